/**
 * Everyday CLI use through the real binary: JSON errors and ping's summary,
 * addresses without a scheme, --direct with an address no transport dials,
 * --key-file that does not exist, durations in config files, one connection
 * for repeated pings to an address, and `crust nat`'s verdict matching its text.
 */
import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { isIPv4 } from 'node:net'
import { join } from 'node:path'
import { peerIdFromPublicKey } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { crust, StartedNode, tempDir } from './helpers.js'

/** The lines of stdout as JSON objects. */
function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('--json failures', () => {
  it('print {"error": {"code", "message"}} on stdout, with the exit code unchanged', async () => {
    const dir = await tempDir()
    const unreachable = await crust(['ping', '--direct', '--json', 'tcp://127.0.0.1:1'], { cwd: dir })
    expect(unreachable.code).toBe(1)
    expect(jsonLines(unreachable.stdout)).toEqual([
      { error: { code: 'ERR_DIAL_FAILED', message: expect.stringMatching(/^cannot reach tcp:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/) } },
    ])
    const usage = await crust(['peers', '--json', '--nonsense'])
    expect(usage.code).toBe(2)
    expect(jsonLines(usage.stdout)).toEqual([{ error: { code: 'ERR_USAGE', message: expect.stringContaining('--nonsense') } }])
    const noNode = await crust(['peers', '--json', '--control', join(dir, 'none.sock')])
    expect(noNode.code).toBe(1)
    expect(jsonLines(noNode.stdout)).toEqual([{ error: { code: 'ERR_FAILED', message: expect.stringContaining('no crust node is running') } }])
  })
})

describe('ping', () => {
  it('an address without a scheme is a usage error that suggests tcp://', async () => {
    const peerId = peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey)
    for (const peer of ['127.0.0.1:4001', `${peerId}@127.0.0.1:4001`]) {
      const run = await crust(['ping', peer])
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(/^crust ping: '127\.0\.0\.1:4001' has no scheme; did you mean tcp:\/\/127\.0\.0\.1:4001 \(or quic:\/\/127\.0\.0\.1:4001\)\?\n$/)
    }
    const ipv6 = await crust(['ping', '--direct', '[::1]:4001'])
    expect(ipv6.code).toBe(2)
    expect(ipv6.stderr).toContain('did you mean tcp://[::1]:4001')
  })

  it('--direct to an address no transport dials is a usage error', async () => {
    const run = await crust(['ping', '--direct', '--json', 'udp://127.0.0.1:4001'])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe('crust ping: --direct dials tcp:// and quic:// addresses; udp://127.0.0.1:4001 has no such transport\n')
    expect(jsonLines(run.stdout)).toEqual([{ error: { code: 'ERR_USAGE', message: expect.stringContaining('udp://127.0.0.1:4001') } }])
  })

  it('--json ends with a summary; repeated pings to an address use one connection', async () => {
    const dir = await tempDir()
    const node = await StartedNode.start(['--listen', 'tcp://127.0.0.1:0', '--data-dir', dir, '--control', join(dir, 'c.sock')])
    const address = node.ready.addresses[0] as string
    const run = await crust(['ping', '--direct', '--json', '--count', '3', '--interval', '50ms', address])
    expect(run.code).toBe(0)
    const lines = jsonLines(run.stdout)
    expect(lines.map((line) => line.seq ?? 'summary')).toEqual([1, 2, 3, 'summary'])
    const rtts = lines.slice(0, 3).map((line) => line.rtt as number)
    expect(lines[3]).toEqual({ summary: { replies: 3, rtt: { min: Math.min(...rtts), avg: expect.any(Number), max: Math.max(...rtts) } } })
    // The pinged node saw one connection from the pinger, not one per ping.
    const opened = node.lines.filter((line) => line.event === 'connection:open').length
    expect(opened).toBe(1)
    expect(await node.stop()).toBe(0)
  })
})

describe('crust start', () => {
  it('--key-file that does not exist asks for --create-key (exit 2) instead of making a new identity', async () => {
    const dir = await tempDir()
    const key = join(dir, 'typo.pem')
    const run = await crust(['start', '--key-file', key, '--data-dir', dir, '--listen', 'tcp://127.0.0.1:0', '--control', join(dir, 'c.sock')])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`crust start: --key-file ${key} does not exist; pass --create-key to create a new identity there (or crust keygen --out ${key})\n`)
    const created = await StartedNode.start(['--key-file', key, '--create-key', '--data-dir', dir, '--listen', 'tcp://127.0.0.1:0', '--control', join(dir, 'c.sock')])
    expect(created.ready.peerId).toMatch(/^bciq/)
    expect(await created.stop()).toBe(0)
    // Now it exists: no --create-key needed, same identity.
    const again = await StartedNode.start(['--key-file', key, '--data-dir', dir, '--listen', 'tcp://127.0.0.1:0', '--control', join(dir, 'c.sock')])
    expect(again.ready.peerId).toBe(created.ready.peerId)
    expect(await again.stop()).toBe(0)
  })

  it('a config file takes durations as the flags do ("5s", "500ms"), and names a bad one', async () => {
    const dir = await tempDir()
    const good = join(dir, 'good.json')
    await writeFile(good, JSON.stringify({ networkName: 'durations', connection: { idleTimeout: '45s', keepAliveInterval: '500ms' }, retry: { maxElapsed: '2m' } }))
    const node = await StartedNode.start(['--config', good, '--data-dir', dir, '--listen', 'tcp://127.0.0.1:0', '--control', join(dir, 'c.sock')])
    expect(node.ready.peerId).toMatch(/^bciq/)
    expect(await node.stop()).toBe(0)
    const bad = join(dir, 'bad.json')
    await writeFile(bad, JSON.stringify({ connection: { idleTimeout: '45 seconds' } }))
    const run = await crust(['start', '--config', bad, '--data-dir', dir, '--control', join(dir, 'c2.sock')])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/connection\.idleTimeout: must be milliseconds or a duration such as "500ms", "5s"/)
  })
})

/** Documentation, benchmarking and reserved IPv4 ranges, and IPv6 documentation: never "a public address". */
function isSpecialPurpose(ip: string): boolean {
  if (!isIPv4(ip)) return /^(2001:db8:|f[cd])/i.test(ip)
  const [a = 0, b = 0, c = 0] = ip.split('.').map(Number)
  return (
    (a === 192 && b === 0 && (c === 2 || c === 0)) ||
    (a === 198 && b === 51 && c === 100) ||
    (a === 203 && b === 0 && c === 113) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 240 ||
    a === 10 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127)
  )
}

describe('crust nat', () => {
  it('says the same in text and JSON, and calls no documentation (TEST-NET) or private address public', async () => {
    const text = await crust(['nat', '--upnp-timeout', '300ms'])
    const json = await crust(['nat', '--upnp-timeout', '300ms', '--json'])
    expect([text.code, json.code]).toEqual([0, 0])
    const report = JSON.parse(json.stdout) as {
      localAddresses: Array<{ address: string; private: boolean; range: string }>
      reachability: { verdict: string; text: string }
    }
    const line = /reachability\s+(.*)$/m.exec(text.stdout)?.[1]
    expect(line).toBe(report.reachability.text)
    for (const local of report.localAddresses) {
      if (isSpecialPurpose(local.address)) expect(local, local.address).toMatchObject({ private: true, range: expect.not.stringMatching(/^public$/) })
    }
    const publicOnes = report.localAddresses.filter((a) => !a.private).map((a) => a.address)
    if (publicOnes.length > 0) {
      expect(report.reachability.verdict).toBe('public')
      expect(report.reachability.text).toContain(publicOnes.join(', '))
    } else {
      expect(report.reachability.text).not.toMatch(/has a public address/)
      expect(report.reachability.verdict).not.toBe('public')
    }
  })
})
