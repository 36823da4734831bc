/**
 * Nodes with TCP and QUIC on loopback, for the tests of dials that race the
 * two (`fallback.test.ts`, `handshake-handover.test.ts`): starting them,
 * their addresses, and how a race between them settles.
 */
import { type CrustNode, type NodeConfigInput, createNode } from '@crust/core'
import { pathProxy } from '@crust/core/testing'
import { tcp } from '@crust/transport-tcp'
import { expect } from 'vitest'
import { quic } from '../src/index.js'

export type Kind = 'tcp' | 'quic'

/**
 * Start a node on loopback with the `kinds` of transport, one dial attempt per
 * address (no retries), answering requests with `echo <data>`; it is pushed
 * onto `nodes`, which the caller stops.
 */
export async function startNode(nodes: CrustNode[], networkName: string, kinds: Kind[], overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
  const transports = kinds.map((k) => (k === 'tcp' ? tcp({ host: '127.0.0.1' }) : quic({ host: '127.0.0.1' })))
  const node = await createNode({ networkName, transports, logLevel: 'error', bootstrap: { cache: false }, retry: { maxAttempts: 1 }, ...overrides })
  nodes.push(node)
  await node.start()
  node.handle((m) => (m.isRequest ? Buffer.from(`echo ${Buffer.from(m.data)}`) : undefined))
  return node
}

export const quicAddresses = (node: CrustNode): string[] => node.addresses.filter((a) => a.startsWith('quic://'))
export const tcpAddresses = (node: CrustNode): string[] => node.addresses.filter((a) => a.startsWith('tcp://'))
export const quicPort = (node: CrustNode): number => Number(quicAddresses(node)[0]?.split(':').at(-1))

/** Every `peer:disconnected` reason the nodes hear. */
export function disconnections(...of: CrustNode[]): string[] {
  const reasons: string[] = []
  for (const node of of) node.on('peer:disconnected', (event) => reasons.push(event.reason))
  return reasons
}

/** Wait (up to `ms`) until both ends hold one connection over `transport`, then for any retirement under way. */
export async function settleOn(a: CrustNode, b: CrustNode, transport: string, ms = 4_000): Promise<void> {
  const on = (node: CrustNode): boolean => node.connections.length === 1 && node.connections[0]?.transport === transport
  const deadline = Date.now() + ms
  while (Date.now() < deadline && !(on(a) && on(b))) await new Promise((r) => setTimeout(r, 20))
  await new Promise((r) => setTimeout(r, 400))
}

/** Both ends keep exactly one connection, over `transport`, and it answers (the nodes echo requests as `echo <data>`). */
export async function expectKept(client: CrustNode, server: CrustNode, transport: string): Promise<void> {
  expect(client.connections.map((c) => c.transport)).toEqual([transport])
  expect(server.connections.map((c) => c.transport)).toEqual([transport])
  const kept = client.connections[0]
  expect(kept && Buffer.from(await kept.request(Buffer.from('x'))).toString()).toBe('echo x')
}

/**
 * `client` (QUIC preferred, TCP started later) dials `server`, whose QUIC
 * WELCOME is lost for a while after the server pooled that connection: on
 * the client TCP wins the race while the QUIC attempt is still in its
 * handshake. Once the WELCOME gets through (retransmitted), both ends must
 * keep QUIC (the earlier attempt of the dial) and retire TCP, and neither
 * may see a disconnection: dropping the QUIC attempt left neither end a
 * connection.
 */
export async function raceWithLostWelcome(client: CrustNode, server: CrustNode): Promise<void> {
  const proxy = await pathProxy('udp', quicPort(server))
  let held = false
  server.on('connection:open', ({ connection }) => {
    if (connection.transport !== 'quic' || held) return
    held = true
    proxy.blackhole('back')
  })
  const reasons = disconnections(client, server)
  try {
    const connection = await client.connect({ peerId: server.peerId, addresses: [`quic://127.0.0.1:${proxy.port}`, ...tcpAddresses(server)] })
    expect(held).toBe(true)
    expect(connection.transport).toBe('tcp')
    setTimeout(() => proxy.restore(), 100)
    await settleOn(client, server, 'quic')
    expect(reasons).toEqual([])
    await expectKept(client, server, 'quic')
  } finally {
    // The nodes first: with the proxy gone first, their QUIC close could not reach the other end.
    await Promise.allSettled([client.stop(), server.stop()])
    await proxy.close()
  }
}
