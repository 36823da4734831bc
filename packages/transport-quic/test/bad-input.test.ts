import { randomBytes } from 'node:crypto'
import { type Socket, createSocket } from 'node:dgram'
import { type CrustNode, TimeoutError, type TransportStream } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { connectedPair, contactOf, makeTransport, sleep, startNode, waitFor } from './helpers.js'

function portOf(node: CrustNode): number {
  return Number(new URL(node.addresses[0]!.replace('quic://', 'http://')).port)
}

async function udpSockets(count: number): Promise<Socket[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const socket = createSocket('udp4')
      socket.on('message', () => {}) // Retry and version negotiation answers are ignored
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
      return socket
    }),
  )
}

function send(socket: Socket, data: Buffer, port: number): Promise<void> {
  return new Promise((resolve) => socket.send(data, port, '127.0.0.1', () => resolve()))
}

/** A QUIC v1 long-header Initial with random connection ids, padded to 1200 bytes (what a client's first datagram looks like). */
function initialPacket(token?: Buffer): Buffer {
  const dcid = randomBytes(8 + Math.floor(Math.random() * 13))
  const scid = randomBytes(8)
  const tokenBytes = token ?? Buffer.alloc(0)
  const header = Buffer.concat([
    Buffer.from([0xc3, 0, 0, 0, 1, dcid.length]),
    dcid,
    Buffer.from([scid.length]),
    scid,
    Buffer.from([0x40 | (tokenBytes.length >> 8), tokenBytes.length & 0xff]),
    tokenBytes,
  ])
  const rest = 1200 - header.length - 2
  return Buffer.concat([header, Buffer.from([0x40 | (rest >> 8), rest & 0xff]), randomBytes(rest)])
}

/** The node still serves a well-behaved peer. */
async function stillServes(node: CrustNode): Promise<void> {
  const friend = await startNode()
  const conn = await friend.connect(contactOf(node))
  expect(Buffer.from(await conn.request(Buffer.from('are you ok?'))).toString()).toBe('fine')
}

async function victim(overrides = {}): Promise<{ node: CrustNode; rejected: Error[] }> {
  const node = await startNode({ connection: { handshakeTimeout: 1000 }, ...overrides })
  node.handle((m) => (m.isRequest ? Buffer.from('fine') : undefined))
  const rejected: Error[] = []
  node.on('connection:rejected', ({ error }) => rejected.push(error))
  return { node, rejected }
}

describe('bad input from the network', () => {
  it('ignores random UDP datagrams', async () => {
    const { node } = await victim()
    const sockets = await udpSockets(10)
    const port = portOf(node)
    for (let i = 0; i < 2000; i++) {
      const size = 1 + Math.floor(Math.random() * 1500)
      await send(sockets[i % sockets.length]!, randomBytes(size), port)
    }
    for (const socket of sockets) socket.close()
    await stillServes(node)
  })

  it('survives a bounded flood of Initial-looking packets from many source ports without keeping state', async () => {
    const server = await makeTransport()
    const port = server.transport.localEndpoint!.port
    const sockets = await udpSockets(200)
    const heapBefore = process.memoryUsage().heapUsed
    const started = Date.now()
    for (let round = 0; round < 5; round++) {
      await Promise.all(sockets.map((socket) => send(socket, initialPacket(), port)))
    }
    // Forged retry tokens: rejected by the token check, before the gate or any connection state.
    await Promise.all(sockets.map((socket) => send(socket, initialPacket(randomBytes(64)), port)))
    expect(Date.now() - started).toBeLessThan(10_000)
    await sleep(200)
    for (const socket of sockets) socket.close()
    expect(server.transport.connectionCount).toBe(0) // answered statelessly (Retry), nothing kept
    expect(server.admitted).toHaveLength(0) // no address was validated, so the gate was not even asked
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024)
    // And it still accepts a real client.
    const client = await makeTransport({ listen: false })
    await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId })
  })

  it('survives a burst of 30 real clients that handshake and then go silent', async () => {
    const { node, rejected } = await victim({ connection: { handshakeTimeout: 600, maxInboundPerIp: 100 } })
    const address = node.addresses[0]!
    const clients = await Promise.all(Array.from({ length: 30 }, () => makeTransport({ listen: false })))
    // A QUIC connection with no Crust handshake: the node must time it out.
    await Promise.all(clients.map((c) => c.transport.dial(address)))
    await waitFor(() => rejected.length === 30, 10_000, 'every silent peer to be refused')
    expect(rejected.every((e) => e instanceof TimeoutError)).toBe(true)
    await stillServes(node)
  })

  // Garbage on the first stream after TLS: the node compliance suite (node-compliance.test.ts).

  it('bounds a client that opens streams beyond its credit (they wait) and serves others meanwhile', async () => {
    const { node } = await victim({ connection: { maxInboundStreams: 32 } })
    const client = await makeTransport({ listen: false })
    const conn = await client.transport.dial(node.addresses[0]!)
    // After the first, unanswered stream (a garbage handshake would close us, so: nothing at all),
    // ask for far more streams than the node grants.
    const opened: TransportStream[] = []
    const pending = Array.from({ length: 200 }, () =>
      conn.openStream({ bidirectional: false }).then((s) => {
        opened.push(s)
        return s
      }),
    )
    await sleep(300)
    expect(opened.length).toBeLessThanOrEqual(32)
    await stillServes(node)
    await conn.close()
    await Promise.allSettled(pending)
  })
})

describe('slow and stuck peers', () => {
  it('a peer that stops reading: our writes wait (memory bounded) and the node keeps serving others', async () => {
    const { conn, inbound } = await connectedPair({ options: { initialMaxStreamData: 256 * 1024, maxStreamWindow: 256 * 1024 } })
    inbound.onStream(() => {}) // never reads
    const heapBefore = process.memoryUsage().heapUsed
    const writes: Promise<void>[] = []
    for (let i = 0; i < 16; i++) {
      const stream = await conn.openStream({ bidirectional: false })
      writes.push(stream.write(Buffer.alloc(2 * 1024 * 1024, i), { end: true }).catch(() => {}))
    }
    let settled = 0
    for (const w of writes) void w.then(() => settled++)
    await sleep(500)
    expect(settled).toBe(0) // every writer waits on flow control
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(128 * 1024 * 1024)
    // Other streams on the same connection are unaffected.
    const streams: TransportStream[] = []
    inbound.onStream((s) => streams.push(s))
    const ok = await conn.openStream({ bidirectional: false })
    await ok.write(Buffer.from('still here'), { end: true })
    await waitFor(() => streams.length === 1)
  })

  it('a request to a handler that never answers times out, while the node serves other peers', async () => {
    const b = await startNode()
    b.handle((m) => (Buffer.from(m.data).toString() === 'stuck' ? new Promise<never>(() => {}) : Buffer.from('fine')))
    const a = await startNode({ connection: { requestTimeout: 800 } })
    const conn = await a.connect(contactOf(b))
    const stuck = Array.from({ length: 50 }, () => conn.request(Buffer.from('stuck')))
    await stillServes(b)
    for (const request of stuck) await expect(request).rejects.toBeInstanceOf(TimeoutError)
    expect(Buffer.from(await conn.request(Buffer.from('hi'))).toString()).toBe('fine')
  })
})
