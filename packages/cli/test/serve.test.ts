/**
 * `crust serve` through the real binary, on loopback: two in-process nodes
 * find each other by topic through it and connect; a `--no-rendezvous` serve
 * refuses the protocol; the STUN responder answers binding requests; SIGTERM
 * stops it with exit 0.
 */
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { type Connection, type CrustNode, createNode, isCrustError } from '@crust/core'
import { RENDEZVOUS_PROTOCOL, type Rendezvous, RendezvousError, rendezvous } from '@crust/discovery-rendezvous'
import { StreamResetCode } from '@crust/core/plugin'
import { tcp } from '@crust/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { StartedNode, crust, tempDir } from './helpers.js'

const LOOPBACK = ['--listen', 'tcp://127.0.0.1:0', '--listen', 'quic://127.0.0.1:0']

interface ServeReady {
  readonly peerId: string
  readonly contact: string
  readonly contacts: string[]
  readonly services: { readonly relay: boolean; readonly rendezvous: boolean; readonly holePunch: boolean; readonly stun: string | false }
}

async function serve(...args: string[]): Promise<{ node: StartedNode; ready: ServeReady }> {
  const node = await StartedNode.start([...LOOPBACK, '--data-dir', await tempDir(), '--interval', '500ms', ...args], 'serve')
  return { node, ready: node.ready as unknown as ServeReady }
}

const nodes: CrustNode[] = []

async function client(servers: string[], topics: string[], logs?: string[]): Promise<{ node: CrustNode; discovery: Rendezvous }> {
  const discovery = rendezvous({ servers, topics })
  const node = await createNode({
    networkName: 'crust',
    transports: [tcp()],
    listen: ['tcp://127.0.0.1:0'],
    services: [discovery],
    ...(logs === undefined ? { logLevel: 'silent' } : { logLevel: 'debug', logSink: (record) => logs.push(record.message) }),
  })
  nodes.push(node)
  await node.start()
  return { node, discovery }
}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

async function until(check: () => boolean, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeout} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('crust serve', () => {
  it('is a rendezvous two nodes find each other through by topic, counts them, and stops on SIGTERM with exit 0', async () => {
    const { node: server, ready } = await serve('--no-stun')
    expect(ready.contact).toMatch(/^bciq\w+@tcp:\/\/127\.0\.0\.1:\d+,quic:\/\/127\.0\.0\.1:\d+$/)
    expect(ready.contacts).toHaveLength(2)
    expect(ready.services).toEqual({ relay: true, rendezvous: true, holePunch: true, stun: false })

    const a = await client([ready.contact], ['t'])
    const b = await client([ready.contacts[0] as string], ['t'])
    const connected = (x: CrustNode, y: CrustNode): boolean => x.connections.some((c) => c.peerId === y.peerId)
    await until(() => connected(a.node, b.node) && connected(b.node, a.node))
    expect(a.discovery.stats().registrations + b.discovery.stats().registrations).toBe(2)

    const status = await server.waitFor((l) => l.type === 'status' && (l.rendezvous as { registrations: number }).registrations === 2)
    expect(status.rendezvous).toMatchObject({ registrations: 2, peers: 2, topics: 1, largestTopics: [{ topic: 't', registrations: 2 }] })
    expect(status.connections).toBeGreaterThanOrEqual(2)
    expect(status.relay).toEqual({ circuits: 0, relayedBytes: 0 })

    expect(await server.stop('SIGTERM')).toBe(0)
    expect(server.lines.at(-1)).toEqual({ type: 'stopped' })
  })

  it('with --no-rendezvous refuses the rendezvous protocol with a typed error', async () => {
    const { node: server, ready } = await serve('--no-rendezvous', '--no-stun')
    expect(ready.services.rendezvous).toBe(false)
    const logs: string[] = []
    const { node, discovery } = await client([ready.contact], ['t'], logs)
    // The client keeps its servers connected: this one too, though it serves no rendezvous.
    await until(() => node.connections.some((c) => c.peerId === ready.peerId))
    const connection = node.connections.find((c) => c.peerId === ready.peerId) as Connection
    const refusal = await connection
      .openProtocolStream(RENDEZVOUS_PROTOCOL)
      .then(async (stream) => {
        stream.write(Buffer.from('{}'))
        for await (const _ of stream) {
          // a serving peer would answer; this one must refuse
        }
        return undefined
      })
      .catch((error: unknown) => error)
    expect(isCrustError(refusal, 'ERR_STREAM_RESET') && refusal.resetCode).toBe(StreamResetCode.REFUSED)
    // The rendezvous client's own requests fail with RendezvousError 'refused' (it logs them and retries).
    await until(() => logs.some((line) => line.includes(`does not serve ${RENDEZVOUS_PROTOCOL}`)))
    // The client registers nowhere and finds nothing: lookups fail typed.
    await expect(discovery.lookup(node.peerId)).rejects.toBeInstanceOf(RendezvousError)
    expect(discovery.stats().registrations).toBe(0)
    expect(await server.stop('SIGTERM')).toBe(0)
  })

  it('answers STUN binding requests with the sender address, ignores garbage, and counts both', async () => {
    const { node: server, ready } = await serve('--stun-port', '0', '--no-relay', '--no-holepunch')
    expect(typeof ready.services.stun).toBe('string')
    const [host, port] = (ready.services.stun as string).split(':') as [string, string]
    const socket = createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    try {
      const transaction = randomBytes(12)
      const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), transaction])
      const answer = new Promise<Buffer>((resolve) => socket.once('message', resolve))
      socket.send(Buffer.from('not stun at all, just bytes'), Number(port), host)
      socket.send(request, Number(port), host)
      const response = await answer
      expect(response.readUInt16BE(0)).toBe(0x0101)
      expect(response.subarray(8, 20).equals(transaction)).toBe(true)
      expect(xorMappedAddress(response)).toEqual({ host: '127.0.0.1', port: socket.address().port })
      await server.waitFor((l) => l.type === 'status' && (l.stun as { answered: number }).answered === 1 && (l.stun as { dropped: number }).dropped === 1)
    } finally {
      socket.close()
    }
    expect(await server.stop('SIGTERM')).toBe(0)
  })

  it('rejects bad flags with exit 2', async () => {
    const bad = await crust(['serve', '--stun-port', '70000'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--stun-port')
    const both = await crust(['serve', '--stun-port', '0', '--no-stun'])
    expect(both.code).toBe(2)
  })
})

/** The XOR-MAPPED-ADDRESS (IPv4) of a STUN response. */
function xorMappedAddress(message: Buffer): { host: string; port: number } | undefined {
  for (let at = 20; at + 4 <= message.length; ) {
    const type = message.readUInt16BE(at)
    const length = message.readUInt16BE(at + 2)
    if (type === 0x0020) {
      const port = message.readUInt16BE(at + 6) ^ 0x2112
      const address = message.readUInt32BE(at + 8) ^ 0x2112a442
      return { host: [24, 16, 8, 0].map((shift) => (address >>> shift) & 0xff).join('.'), port }
    }
    at += 4 + length + ((4 - (length % 4)) % 4)
  }
  return undefined
}
