/**
 * Attack: hold every connection slot with throw-away identities that keep
 * their idle connections alive with keep-alives, so genuine peers are refused.
 * Defence: the pruner closes the least valuable unprotected connection to
 * admit a newcomer; protected and busy peers are never the ones closed.
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import { CloseCode, ConnectionLimitError, type CrustNode, DialError } from '@crust/core'
import { waitUntil } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { TRANSPORTS, type TransportName, contactOf, startNode } from './nodes.js'

/** Limits that make a small node fill quickly; keep-alives well inside the idle timeout. */
const victimLimits = {
  maxConnections: 6,
  maxInboundPerIp: 64,
  maxInboundPerSubnet: 64,
  pruneGracePeriod: 300,
  idleTimeout: 1_000,
  keepAliveInterval: 200,
}

/** Throw-away identities (clients: they need no listener) connected to `victim`; their close codes are recorded. */
async function holdSlots(transport: TransportName, victim: CrustNode, count: number): Promise<{ nodes: CrustNode[]; codes: number[] }> {
  const codes: number[] = []
  const nodes = await Promise.all(
    Array.from({ length: count }, () =>
      startNode(transport, { role: 'client', connection: { idleTimeout: 1_000, keepAliveInterval: 200 }, retry: { maxAttempts: 1 } }),
    ),
  )
  for (const node of nodes) {
    const connection = await node.connect(contactOf(victim))
    void connection.closed.then((info) => codes.push(info.code))
  }
  return { nodes, codes }
}

describe.each(TRANSPORTS)('slot holding over %s', (transport) => {
  it('a node full of idle, kept-alive throw-away identities admits a genuine peer by pruning one of them', async () => {
    const victim = await startNode(transport, { connection: victimLimits })
    victim.handle(() => Buffer.from('served'))
    const attack = await holdSlots(transport, victim, victimLimits.maxConnections)
    // Past the idle timeout: keep-alives alone hold the slots.
    await new Promise((resolve) => setTimeout(resolve, 1_300))
    expect(victim.connections).toHaveLength(victimLimits.maxConnections)
    expect(attack.codes).toEqual([])

    const genuine = await startNode(transport, { retry: { maxAttempts: 1 } })
    const started = performance.now()
    const connection = await genuine.connect(contactOf(victim))
    expect(Buffer.from(await connection.request(Buffer.from('hello'))).toString()).toBe('served')
    expect(performance.now() - started).toBeLessThan(2_000)

    await waitUntil(() => attack.codes.length === 1, 2_000, 'one throw-away connection to be pruned')
    expect(attack.codes).toEqual([CloseCode.PRUNED])
    expect(victim.connections).toHaveLength(victimLimits.maxConnections)
    expect(victim.getConnection(genuine.peerId)).toBeDefined()
  })

  it('never prunes protected peers or peers in use; the idle ones go first', async () => {
    const victim = await startNode(transport, { connection: { ...victimLimits, maxConnections: 4 } })
    victim.handle(() => undefined)
    const attack = await holdSlots(transport, victim, 4)
    const [protectedPeer, busyPeer, idleA, idleB] = attack.nodes as [CrustNode, CrustNode, CrustNode, CrustNode]
    victim.protect(protectedPeer.peerId)
    const busy = setInterval(() => void busyPeer.getConnection(victim.peerId)?.send(Buffer.from('tick')).catch(() => {}), 100)
    try {
      await new Promise((resolve) => setTimeout(resolve, 800))
      // Two newcomers: the two idle, unprotected connections are the ones closed.
      for (let i = 0; i < 2; i++) {
        const newcomer = await startNode(transport, { role: 'client', retry: { maxAttempts: 1 } })
        const connection = await newcomer.connect(contactOf(victim))
        await connection.send(Buffer.from('first message'))
      }
      await waitUntil(() => attack.codes.length === 2, 2_000, 'two connections to be pruned')
      const remaining = new Set(victim.connections.map((c) => c.peerId))
      expect(remaining.has(protectedPeer.peerId)).toBe(true)
      expect(remaining.has(busyPeer.peerId)).toBe(true)
      expect(remaining.has(idleA.peerId)).toBe(false)
      expect(remaining.has(idleB.peerId)).toBe(false)
      expect(attack.codes).toEqual([CloseCode.PRUNED, CloseCode.PRUNED])
    } finally {
      clearInterval(busy)
    }
  })

  it('refuses a newcomer with a named reason when nothing can be pruned', async () => {
    const victim = await startNode(transport, { connection: { ...victimLimits, maxConnections: 2 } })
    const rejected: Error[] = []
    victim.on('connection:rejected', ({ error }) => rejected.push(error))
    const attack = await holdSlots(transport, victim, 2)
    for (const node of attack.nodes) victim.protect(node.peerId)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const newcomer = await startNode(transport, { role: 'client', retry: { maxAttempts: 1 } })
    // QUIC carries the refusal's code to the dialer; TCP refuses before TLS, so the dialer sees a reset.
    const failure = await newcomer.connect(contactOf(victim)).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(transport === 'quic' ? ConnectionLimitError : DialError)
    await waitUntil(() => rejected.length > 0, 2_000, 'the refusal to be reported')
    expect(rejected[0]).toBeInstanceOf(ConnectionLimitError)
    expect(rejected[0]?.message).toMatch(/no connection can be pruned|none can be pruned/)
    expect(victim.connections).toHaveLength(2)
    expect(attack.codes).toEqual([])
  })
})

describe('many addresses of one subnet (tcp)', () => {
  it('one IPv4 /24 holds at most maxInboundPerSubnet inbound slots, whatever the per-address limit', async () => {
    const victim = await startNode('tcp', {
      connection: { maxInboundPerIp: 1, maxInboundPerSubnet: 8, maxPendingInbound: 100, handshakeTimeout: 5_000 },
    })
    const port = Number(new URL(victim.addresses[0]!.replace('tcp://', 'http://')).port)
    const sockets: Socket[] = []
    const closedEarly = new Set<number>()
    try {
      // Twelve hosts of 127.0.0.0/24, each opening one connection and never starting TLS.
      for (let host = 1; host <= 12; host++) {
        const socket = tcpConnect({ host: '127.0.0.1', port, localAddress: `127.0.0.${host}` })
        socket.on('error', () => {})
        socket.on('close', () => closedEarly.add(host))
        sockets.push(socket)
        await new Promise((resolve) => {
          socket.once('connect', resolve)
          socket.once('close', resolve)
        })
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(closedEarly.size).toBe(4)
      expect([...closedEarly].every((host) => host > 8)).toBe(true)
    } finally {
      for (const socket of sockets) socket.destroy()
    }
  })
})
