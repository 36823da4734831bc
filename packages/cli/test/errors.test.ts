/**
 * Bad flags and bad config files: one clear line on stderr naming the flag
 * or the field, and exit code 2. Most cases run in process (fast); a few run
 * the real binary to check the exit code end to end.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runInProcess } from './capture.js'
import { crust, tempDir } from './helpers.js'

let dir: string
beforeAll(async () => {
  dir = await tempDir()
})

/** Write a config file and run `crust start --config` on it. */
async function startWith(name: string, content: string, extra: string[] = []) {
  const path = join(dir, name)
  await writeFile(path, content)
  return runInProcess(['start', '--config', path, '--data-dir', join(dir, 'data'), ...extra])
}

/** Exactly one line on stderr, exit code 2, nothing on stdout. */
function expectUsage(run: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  expect(run.stdout).toBe('')
  expect(run.stderr.endsWith('\n')).toBe(true)
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
  expect(run.stderr.trimEnd()).toMatch(pattern)
  expect(run.code).toBe(2)
}

describe('bad config files', () => {
  it('names an unknown key', async () => {
    expectUsage(await startWith('unknown.json', '{"networkName": "x", "conection": {}}'), /^crust start: invalid config file .*unknown\.json: conection: Unknown option$/)
  })

  it('names a nested field of the wrong type', async () => {
    expectUsage(
      await startWith('type.json', '{"networkName": "x", "connection": {"idleTimeout": "soon"}}'),
      // A string is a duration ("45s") or wrong: the message says which values fit.
      /^crust start: invalid config file .*type\.json: connection\.idleTimeout: must be milliseconds or a duration such as "500ms", "5s", "2m", "1h"$/,
    )
  })

  it('says where the JSON is broken', async () => {
    expectUsage(await startWith('broken.json', '{\n  "networkName": "x",\n}\n'), /^crust start: invalid config file .*broken\.json: not valid JSON \(.* at line 3, column 1\)$/)
  })

  it('names an unknown plugin and lists the known ones', async () => {
    expectUsage(await startWith('plugin.json', '{"transports": ["tcp", "udp"]}'), /transports\.1: unknown transport "udp" \(known: tcp, quic\)$/)
  })

  it("names a bad plugin option, and the plugin's own validation", async () => {
    expectUsage(await startWith('tcp.json', '{"transports": [{"tcp": {"port": 70000}}]}'), /transports\.0\.tcp\.port: Too big: expected number to be <=65535$/)
    expectUsage(await startWith('quic.json', '{"transports": [{"quic": {"prot": 1}}]}'), /transports\.0\.quic\.prot: Unknown option$/)
    expectUsage(await startWith('tcp-typo.json', '{"transports": [{"tcp": {"prot": 4001}}]}'), /transports\.0\.tcp\.prot: Unknown option$/)
    expectUsage(await startWith('quic-size.json', '{"transports": [{"quic": {"maxUdpPayloadSize": 10}}]}'), /transports\.0\.quic\.maxUdpPayloadSize: Too small: expected number to be >=1200$/)
    expectUsage(await startWith('beacon.json', '{"discovery": [{"beacon": {"port": -1}}]}'), /discovery\.0\.beacon\.port: Too small/)
  })

  it('rejects a config that is not an object, and a missing file', async () => {
    expectUsage(await startWith('array.json', '[]'), /must be a JSON object/)
    expectUsage(await runInProcess(['start', '--config', join(dir, 'nope.json')]), /cannot read config file .*nope\.json: no such file$/)
  })
})

describe('bad flags', () => {
  it('names an unknown flag', async () => {
    expectUsage(await runInProcess(['start', '--bogus']), /^crust start: unknown option '--bogus' \(see crust start --help\)$/)
  })

  it('names a flag missing its value', async () => {
    expectUsage(await runInProcess(['start', '--config']), /^crust start: option '-c, --config <value>' argument missing \(see crust start --help\)$/)
  })

  it('checks flag values', async () => {
    expectUsage(await runInProcess(['start', '--listen', 'tcp:/x']), /--listen 'tcp:\/x' is not an address such as tcp:\/\/0\.0\.0\.0:4001/)
    expectUsage(await runInProcess(['start', '--contact', 'nobody']), /--contact 'nobody' must be peerId@address/)
    expectUsage(await runInProcess(['start', '--interval', 'often']), /--interval must be a duration such as 500ms or 2s/)
    expectUsage(await runInProcess(['ping', 'bciqnope@tcp://127.0.0.1:1']), /'bciqnope' is not a peer id/)
    expectUsage(await runInProcess(['ping', '--count', '0', 'x']), /--count must be a whole number from 1 to 1000000, got '0'/)
    expectUsage(await runInProcess(['send', 'only-a-peer']), /^crust send: missing <text\|@file> \(see crust send --help\)$/)
    expectUsage(await runInProcess(['keygen', 'extra']), /^crust keygen: unexpected argument 'extra'/)
  })

  it('rejects an unknown command and a missing one', async () => {
    expectUsage(await runInProcess(['launch']), /^crust: unknown command 'launch' \(see crust --help\)$/)
    expectUsage(await runInProcess([]), /^crust: missing command \(see crust --help\)$/)
  })

  it('exits 2 from the real binary too', async () => {
    const path = join(dir, 'real.json')
    await writeFile(path, '{"networkName": 5}')
    const [flag, config] = await Promise.all([crust(['start', '--nope']), crust(['start', '--config', path])])
    expectUsage(flag, /^crust start: unknown option '--nope'/)
    expectUsage(config, /^crust start: invalid config file .*real\.json: networkName: Invalid input: expected string, received number$/)
  })
})

describe('help', () => {
  it('lists every command, and each command has its own help', async () => {
    const all = await runInProcess(['--help'])
    expect(all.code).toBe(0)
    for (const name of ['start', 'peers', 'ping', 'send', 'nat', 'keygen', 'bench', 'demo']) {
      expect(all.stdout).toMatch(new RegExp(`^  ${name} `, 'm'))
      const one = await runInProcess([name, '--help'])
      expect(one.code).toBe(0)
      expect(one.stdout).toMatch(new RegExp(`^Usage: crust ${name}`))
      expect((await runInProcess(['help', name])).stdout).toBe(one.stdout)
    }
  })
})
