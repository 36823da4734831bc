/**
 * Two real `crust start` nodes in child processes, on 127.0.0.1, each with
 * its own key file and control socket: ping, a 5 MiB file, the peers table,
 * a text message, and a clean stop on Ctrl-C.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crust, StartedNode, tempDir } from './helpers.js'

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

describe('crust start, ping, send, peers', () => {
  let dir: string
  let alice: StartedNode
  let bob: StartedNode
  let bobContact: string

  beforeAll(async () => {
    dir = await tempDir()
    const args = (name: string) => [
      '--listen',
      'tcp://127.0.0.1:0',
      '--key-file',
      join(dir, `${name}.pem`),
      '--create-key',
      '--control',
      join(dir, `${name}.sock`),
      '--data-dir',
      join(dir, name),
      '--network',
      'cli-test',
      '--interval',
      '1s',
    ]
    // Bob takes files from alice only: her key is made first, so her peer id is known for --allow.
    const key = await crust(['keygen', '--out', join(dir, 'alice.pem'), '--json'])
    const alicePeerId = (JSON.parse(key.stdout) as { peerId: string }).peerId
    const receiving = ['--inbox', join(dir, 'bob', 'inbox'), '--allow', alicePeerId]
    ;[alice, bob] = await Promise.all([StartedNode.start(args('alice')), StartedNode.start([...args('bob'), ...receiving])])
    bobContact = `${bob.ready.peerId}@${bob.ready.addresses[0]}`
  })

  afterAll(async () => {
    await Promise.all([alice?.stop('SIGKILL'), bob?.stop('SIGKILL')])
  })

  it('prints the peer id, addresses, control socket and a 0600 key in its ready line', async () => {
    expect(alice.lines[0]?.type).toBe('ready')
    expect(alice.ready.peerId).toMatch(/^bciq/)
    expect(alice.ready.addresses).toEqual([expect.stringMatching(/^tcp:\/\/127\.0\.0\.1:\d+$/)])
    expect(alice.ready.control).toBe(join(dir, 'alice.sock'))
    expect((await stat(join(dir, 'alice.pem'))).mode & 0o777).toBe(0o600)
  })

  it('pings one node from the other through its control socket', async () => {
    const run = await crust(['ping', '--control', join(dir, 'alice.sock'), '--count', '2', '--interval', '50ms', bobContact])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/reply from bciq\w+… over tcp \(direct\): seq=1 rtt=[\d.]+ ms/)
    expect(run.stdout).toMatch(/2 replies, rtt min\/avg\/max/)
    await alice.waitFor((l) => l.event === 'connection:open')
  })

  it('sends a 5 MiB file that the receiver saves with the same SHA-256', async () => {
    const data = randomBytes(5 * 1024 * 1024)
    const path = join(dir, 'five.bin')
    await writeFile(path, data)
    // By peer id prefix: alice is connected to bob since the ping.
    const run = await crust(['send', '--control', join(dir, 'alice.sock'), bob.ready.peerId.slice(0, 12), `@${path}`])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const saved = join(bob.ready.inbox, 'five.bin')
    expect(run.stdout).toContain(`the receiver saved it as ${saved}, SHA-256 verified (${sha256(data)})`)
    const line = await bob.waitFor((l) => l.event === 'file')
    expect(line).toMatchObject({ name: 'five.bin', path: saved, size: data.length, sha256: sha256(data), peerId: alice.ready.peerId })
    expect(sha256(await readFile(saved))).toBe(sha256(data))
  })

  it('lists the connection with transport, method and bytes', async () => {
    const run = await crust(['peers', '--control', join(dir, 'alice.sock'), '--json'])
    expect(run.code).toBe(0)
    const rows = JSON.parse(run.stdout) as Array<Record<string, unknown>>
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ peerId: bob.ready.peerId, transport: 'tcp', direction: 'outbound', method: 'direct' })
    expect(rows[0]?.bytesSent).toBeGreaterThan(5 * 1024 * 1024)
    const table = await crust(['peers', '--control', join(dir, 'alice.sock')])
    expect(table.stdout).toMatch(/^PEER\s+TRANSPORT\s+DIR\s+METHOD\s+REMOTE\s+SENT\s+RECEIVED\s+RTT\s+UP$/m)
    expect(table.stdout).toMatch(/bciq\w+…\s+tcp\s+out\s+direct\s+tcp:\/\/127\.0\.0\.1:\d+\s+5\.0 MiB/)
  })

  it('sends a text message that the receiver shows', async () => {
    const run = await crust(['send', '--control', join(dir, 'alice.sock'), bob.ready.peerId, 'hello', 'bob'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/delivered 9 B to bciq\w+… over tcp/)
    await bob.waitFor((l) => l.event === 'message' && l.text === 'hello bob')
  })

  it('reports table snapshots with round-trip times', async () => {
    const line = await alice.waitFor((l) => l.type === 'peers' && Array.isArray(l.peers) && l.peers.some((p: { rtt?: number }) => typeof p.rtt === 'number'))
    expect(line.peers).toEqual([expect.objectContaining({ peerId: bob.ready.peerId, transport: 'tcp', method: 'direct' })])
  })

  it('stops cleanly on Ctrl-C (SIGINT) with exit code 0', async () => {
    const code = await bob.stop('SIGINT')
    expect(code).toBe(0)
    expect(bob.lines.at(-1)).toEqual({ type: 'stopped' })
    await alice.waitFor((l) => l.event === 'connection:close')
    expect(await alice.stop('SIGTERM')).toBe(0)
  })
})

describe('without a running node', () => {
  it('pings and sends from a short-lived client node given peerId@address', async () => {
    const dir = await tempDir()
    const node = await StartedNode.start(['--listen', 'tcp://127.0.0.1:0', '--data-dir', dir, '--control', join(dir, 'c.sock')])
    const contact = `${node.ready.peerId}@${node.ready.addresses[0]}`
    const ping = await crust(['ping', '--direct', '--count', '1', contact])
    expect(ping.code).toBe(0)
    expect(ping.stdout).toMatch(/reply from bciq\w+… over tcp \(direct\): seq=1 rtt=/)
    expect(await node.stop()).toBe(0)
  })

  it('exits 1 with one line when the peer is unreachable', async () => {
    const dir = await tempDir()
    const run = await crust(['ping', '--direct', 'tcp://127.0.0.1:1'], { cwd: dir })
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^crust ping: cannot reach tcp:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\n$/)
  })

  it('exits 1 with one line when no node runs at the control socket', async () => {
    const dir = await tempDir()
    const run = await crust(['peers', '--control', join(dir, 'none.sock')])
    expect(run.code).toBe(1)
    expect(run.stderr).toBe(`crust peers: no crust node is running at ${join(dir, 'none.sock')} (start one with crust start, or pass --control <path>)\n`)
  })
})
