import type { Connection, CrustNode, TransportFactory } from '@crust/core'
import { contactOf, createTestNode, stopTestNodes, waitFor } from '@crust/core/testing'
import { tcp } from '@crust/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { websocket } from '../src/index.js'

/** A node on loopback with `transports`, answering requests with `<name> got <request>`. */
async function startNode(name: string, transports: TransportFactory[]): Promise<{ node: CrustNode; received: string[] }> {
  const node = await createTestNode(transports)
  const received: string[] = []
  node.handle((message) => {
    const text = Buffer.from(message.data).toString()
    received.push(text)
    if (message.isRequest) return Buffer.from(`${name} got ${text}`)
  })
  return { node, received }
}

/** `node`'s pooled connection to `peer`, once it has one. */
async function pooled(node: CrustNode, peer: CrustNode, what: string): Promise<Connection> {
  await waitFor(() => node.getConnection(peer.peerId) !== undefined, 5000, what)
  return node.getConnection(peer.peerId) as Connection
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

afterEach(() => stopTestNodes())

describe('websocket() in real nodes', () => {
  it('a [tcp, websocket] node joins a websocket-only node over ws while it talks tcp to a tcp-only node', async () => {
    const wsOnly = await startNode('ws-only', [websocket(loopback)])
    const mixed = await startNode('mixed', [tcp(loopback), websocket(loopback)])
    const tcpOnly = await startNode('tcp-only', [tcp(loopback)])
    expect(wsOnly.node.addresses.every((a) => a.startsWith('ws://'))).toBe(true)
    expect(mixed.node.addresses.some((a) => a.startsWith('ws://'))).toBe(true)
    expect(mixed.node.addresses.some((a) => a.startsWith('tcp://'))).toBe(true)

    const [toWs, toTcp] = await Promise.all([
      mixed.node.connect(contactOf(wsOnly.node)),
      mixed.node.connect(contactOf(tcpOnly.node)),
    ])
    expect(toWs.transport).toBe('ws')
    expect(toTcp.transport).toBe('tcp')
    expect(toWs.peerId).toBe(wsOnly.node.peerId)
    expect(toTcp.peerId).toBe(tcpOnly.node.peerId)

    // The other two answer back over the connections the mixed node opened.
    const wsBack = await pooled(wsOnly.node, mixed.node, 'the ws-only node to pool the connection')
    const tcpBack = await pooled(tcpOnly.node, mixed.node, 'the tcp-only node to pool the connection')
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
    const connection = await wsOnly.node.connect(contactOf(mixed.node))
    expect(connection.transport).toBe('ws')
    const answer = await connection.request(Buffer.from('ping'))
    expect(Buffer.from(answer).toString()).toBe('mixed got ping')
  })

  // A peer that is not the one dialled (AuthenticationError), the auth modes, messaging and bad input:
  // the node compliance suite (node-compliance.test.ts).
})
