import { randomBytes } from 'node:crypto'
import { type Socket, connect as netConnect } from 'node:net'
import { type CrustNode, ProtocolError, TimeoutError } from '@crust/core'
import { MESSAGE_VERSION } from '@crust/core/plugin'
import { describe, expect, it } from 'vitest'
import { contactOf, startNode, waitFor } from './helpers.js'
import { goAwayCode, muxFrame, port, rawTlsClient } from './raw-client.js'

const TYPE_DATA = 0
const FLAG_SYN = 0x1
const FLAG_FIN = 0x4

/** The node still serves well-behaved peers. */
async function stillServes(node: CrustNode): Promise<void> {
  const friend = await startNode()
  const conn = await friend.connect(contactOf(node))
  expect(Buffer.from(await conn.request(Buffer.from('are you ok?'))).toString()).toBe('fine')
}

async function victim(overrides = {}): Promise<{ node: CrustNode; rejected: Error[] }> {
  const node = await startNode({ connection: { handshakeTimeout: 500 }, ...overrides })
  node.handle((m) => (m.isRequest ? Buffer.from('fine') : undefined))
  const rejected: Error[] = []
  node.on('connection:rejected', ({ error }) => rejected.push(error))
  return { node, rejected }
}

describe('bad input from remote peers', () => {
  it('closes a connection that sends garbage after TLS with a protocol error', async () => {
    const { node, rejected } = await victim()
    const client = await rawTlsClient(node)
    client.socket.write(randomBytes(4096))
    await client.closed
    expect(goAwayCode(client.received())).toBe(1) // CloseCode.PROTOCOL_ERROR
    await waitFor(() => rejected.length > 0)
    expect(rejected[0]).toBeInstanceOf(ProtocolError)
    await stillServes(node)
  })

  it('closes a connection whose frame header claims 4 GiB', async () => {
    const { node } = await victim()
    const client = await rawTlsClient(node)
    client.socket.write(muxFrame(TYPE_DATA, FLAG_SYN, 1, 0xffffffff, randomBytes(100)))
    await client.closed
    expect(goAwayCode(client.received())).toBe(1)
    await stillServes(node)
  })

  it('closes a connection whose message header claims 4 GiB, refusing it before reading', async () => {
    const { node, rejected } = await victim()
    const client = await rawTlsClient(node)
    const header = Buffer.alloc(8)
    header[0] = MESSAGE_VERSION
    header[1] = 4 // HELLO
    header.writeUInt32BE(0xffffffff, 4)
    client.socket.write(muxFrame(TYPE_DATA, FLAG_SYN, 1, header.length, header))
    await client.closed
    await waitFor(() => rejected.length > 0)
    await stillServes(node)
  })

  it('closes a connection that sends a truncated frame and goes quiet', async () => {
    const { node, rejected } = await victim()
    const client = await rawTlsClient(node)
    const frame = muxFrame(TYPE_DATA, FLAG_SYN | FLAG_FIN, 1, 1000, randomBytes(1000))
    client.socket.write(frame.subarray(0, 300))
    await client.closed // the handshake deadline fires: the HELLO never completed
    await waitFor(() => rejected.length > 0)
    expect(rejected[0]).toBeInstanceOf(TimeoutError)
    await stillServes(node)
  })

  it('closes a TCP connection that never starts TLS', async () => {
    const { node, rejected } = await victim()
    const socket: Socket = netConnect(port(node), '127.0.0.1')
    socket.on('error', () => {})
    const started = Date.now()
    await new Promise((resolve) => socket.once('close', resolve))
    expect(Date.now() - started).toBeGreaterThanOrEqual(400)
    await waitFor(() => rejected.length > 0)
    expect(rejected[0]).toBeInstanceOf(TimeoutError)
    await stillServes(node)
  })

  it('closes a TCP connection that sends non-TLS garbage', async () => {
    const { node, rejected } = await victim()
    const socket: Socket = netConnect(port(node), '127.0.0.1')
    socket.on('error', () => {})
    socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await new Promise((resolve) => socket.once('close', resolve))
    await waitFor(() => rejected.length > 0)
    await stillServes(node)
  })

  it('closes a peer that completes TLS but never sends its handshake', async () => {
    const { node, rejected } = await victim()
    const client = await rawTlsClient(node)
    await client.closed
    await waitFor(() => rejected.length > 0)
    expect(rejected[0]).toBeInstanceOf(TimeoutError)
    await stillServes(node)
  })

  it('survives a burst of 50 garbage connections and keeps serving', async () => {
    const { node } = await victim({ connection: { handshakeTimeout: 500, maxInboundPerIp: 100 } })
    const clients = await Promise.all(Array.from({ length: 50 }, () => rawTlsClient(node)))
    for (const client of clients) client.socket.write(randomBytes(512))
    await Promise.all(clients.map((c) => c.closed))
    await stillServes(node)
  })
})
