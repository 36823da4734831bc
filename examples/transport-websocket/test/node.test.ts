import { type Connection, type CrustNode, type TransportFactory, createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { websocket } from '../src/index.js'

const started: CrustNode[] = []

/** A node on loopback with `transports`, answering requests with `<name> got <request>`. */
async function startNode(name: string, transports: TransportFactory[]): Promise<{ node: CrustNode; received: string[] }> {
  const node = await createNode({ networkName: 'ws-example', transports, logLevel: 'error', bootstrap: { cache: false } })
  started.push(node)
  const received: string[] = []
  node.handle((message) => {
    const text = Buffer.from(message.data).toString()
    received.push(text)
    if (message.isRequest) return Buffer.from(`${name} got ${text}`)
  })
  await node.start()
  return { node, received }
}

async function waitFor<T>(get: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = get()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** `count` sends and `count` requests from `from` to whoever is at the other end of `connection`. */
async function exchange(connection: Connection, from: string, to: string, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      await connection.send(Buffer.from(`${from} message ${i}`))
      const answer = await connection.request(Buffer.from(`${from} request ${i}`))
      expect(Buffer.from(answer).toString()).toBe(`${to} got ${from} request ${i}`)
    }),
  )
}

const loopback = { host: '127.0.0.1' }

afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((node) => node.stop()))
})

describe('websocket() in real nodes', () => {
  it('a [tcp, websocket] node joins a websocket-only node over ws while it talks tcp to a tcp-only node', async () => {
    const wsOnly = await startNode('ws-only', [websocket(loopback)])
    const mixed = await startNode('mixed', [tcp(loopback), websocket(loopback)])
    const tcpOnly = await startNode('tcp-only', [tcp(loopback)])
    expect(wsOnly.node.addresses.every((a) => a.startsWith('ws://'))).toBe(true)
    expect(mixed.node.addresses.some((a) => a.startsWith('ws://'))).toBe(true)
    expect(mixed.node.addresses.some((a) => a.startsWith('tcp://'))).toBe(true)

    const [toWs, toTcp] = await Promise.all([
      mixed.node.connect({ peerId: wsOnly.node.peerId, addresses: wsOnly.node.addresses }),
      mixed.node.connect({ peerId: tcpOnly.node.peerId, addresses: tcpOnly.node.addresses }),
    ])
    expect(toWs.transport).toBe('ws')
    expect(toTcp.transport).toBe('tcp')
    expect(toWs.peerId).toBe(wsOnly.node.peerId)
    expect(toTcp.peerId).toBe(tcpOnly.node.peerId)

    // The other two answer back over the connections the mixed node opened.
    const wsBack = await waitFor(() => wsOnly.node.getConnection(mixed.node.peerId), 'the ws-only node to pool the connection')
    const tcpBack = await waitFor(() => tcpOnly.node.getConnection(mixed.node.peerId), 'the tcp-only node to pool the connection')
    expect(wsBack.transport).toBe('ws')
    expect(tcpBack.transport).toBe('tcp')

    // Everything at once, over both transports, in both directions.
    await Promise.all([
      exchange(toWs, 'mixed', 'ws-only', 25),
      exchange(toTcp, 'mixed', 'tcp-only', 25),
      exchange(wsBack, 'ws-only', 'mixed', 25),
      exchange(tcpBack, 'tcp-only', 'mixed', 25),
    ])
    const sent = (from: string) => Array.from({ length: 25 }, (_, i) => `${from} message ${i}`)
    expect(wsOnly.received.filter((m) => m.startsWith('mixed message')).sort()).toEqual(sent('mixed').sort())
    expect(tcpOnly.received.filter((m) => m.startsWith('mixed message')).sort()).toEqual(sent('mixed').sort())
    expect(mixed.received.filter((m) => m.startsWith('ws-only message')).sort()).toEqual(sent('ws-only').sort())
    expect(mixed.received.filter((m) => m.startsWith('tcp-only message')).sort()).toEqual(sent('tcp-only').sort())
    // The ws-only node never heard of TCP; the TCP-only node never of WebSocket.
    expect(wsOnly.node.connections.map((c) => c.transport)).toEqual(['ws'])
    expect(tcpOnly.node.connections.map((c) => c.transport)).toEqual(['tcp'])
  })

  it('a websocket-only node given all addresses of a mixed node dials its ws address', async () => {
    const mixed = await startNode('mixed', [tcp(loopback), websocket(loopback)])
    const wsOnly = await startNode('ws-only', [websocket(loopback)])
    const connection = await wsOnly.node.connect({ peerId: mixed.node.peerId, addresses: mixed.node.addresses })
    expect(connection.transport).toBe('ws')
    const answer = await connection.request(Buffer.from('ping'))
    expect(Buffer.from(answer).toString()).toBe('mixed got ping')
  })

  it('refuses a peer that is not the one dialled, with AuthenticationError', async () => {
    const target = await startNode('target', [websocket(loopback)])
    const other = await startNode('other', [websocket(loopback)])
    const dialer = await startNode('dialer', [websocket(loopback)])
    await expect(
      dialer.node.connect({ peerId: other.node.peerId, addresses: target.node.addresses }, { retry: false }),
    ).rejects.toMatchObject({ code: 'ERR_AUTHENTICATION' })
  })
})
