/**
 * TCP first, QUIC as fallback: the core's Happy-Eyeballs dial across
 * transports, with real TCP and real QUIC on loopback, and with a firewall
 * that silently drops TCP inside a network namespace.
 */
import { type Server, createServer } from 'node:net'
import type { CrustNode, NodeConfigInput, NodeEvents } from '@crust/core'
import { afterEach, describe, expect, it } from 'vitest'
import { LabHost, NetLab, announceSkip, labSupport } from '../../../tools/netlab/src/index.js'
import { type Kind, quicAddresses, raceWithLostWelcome, startNode as startTcpQuicNode, tcpAddresses } from './tcp-and-quic.js'

const nodes: CrustNode[] = []
const servers: Server[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
  for (const s of servers.splice(0)) s.close()
})

const startNode = (kinds: Kind[], overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> => startTcpQuicNode(nodes, 'fallback', kinds, overrides)

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A TCP port that accepts connections and then says nothing: TLS never completes there. */
async function silentPort(): Promise<number> {
  const server = createServer((socket) => socket.on('error', () => {}))
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as { port: number }).port
}

describe('TCP first, QUIC as fallback', () => {
  it('when TCP and QUIC both complete, both ends keep the same one (the preferred TCP) and it stays open', async () => {
    for (let round = 0; round < 8; round++) {
      // No fallback delay: both transports are dialled at once and both handshakes finish.
      const server = await startNode(['tcp', 'quic'])
      const client = await startNode(['tcp', 'quic'], { connection: { fallbackDelay: 0 } })
      const closes: string[] = []
      client.on('peer:disconnected', (event) => closes.push(event.reason))
      const connection = await client.connect({ peerId: server.peerId, addresses: server.addresses })
      const settle = Date.now() + 1_500
      while (Date.now() < settle && !(client.connections.length === 1 && server.connections.length === 1)) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 300)) // any retirement under way finishes
      expect(closes).toEqual([])
      expect(client.connections.map((c) => c.transport)).toEqual(['tcp'])
      expect(server.connections.map((c) => c.transport)).toEqual(['tcp'])
      expect(client.connections[0]?.localAddress).toBe(server.connections[0]?.remoteAddress)
      expect(Buffer.from(await connection.request(Buffer.from('x'))).toString()).toBe('echo x')
      await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
    }
  }, 60_000)

  it('an attempt the race cancels after its HELLO went out is not closed: the peer pooled it first, and both ends keep it', async () => {
    for (let round = 0; round < 3; round++) {
      const server = await startNode(['tcp', 'quic'])
      // QUIC is preferred (attempt 0); TCP (attempt 1) starts 300 ms later, by when the server pooled QUIC.
      const client = await startNode(['tcp', 'quic'], { connection: { transportPreference: ['quic', 'tcp'], fallbackDelay: 300 } })
      await raceWithLostWelcome(client, server)
    }
  }, 60_000)

  it('uses TCP when both are available, with no fallback', async () => {
    const server = await startNode(['tcp', 'quic'])
    const client = await startNode(['tcp', 'quic'])
    const fallbacks: unknown[] = []
    client.on('connection:fallback', (e) => fallbacks.push(e))
    const conn = await client.connect({ peerId: server.peerId, addresses: server.addresses })
    expect(conn.transport).toBe('tcp')
    expect(conn.fallback).toBeUndefined()
    expect(fallbacks).toEqual([])
  })

  it('falls back to QUIC when TCP is refused, and says why', async () => {
    const server = await startNode(['tcp', 'quic'])
    const client = await startNode(['tcp', 'quic'])
    const events: Array<NodeEvents['connection:fallback']> = []
    client.on('connection:fallback', (e) => events.push(e))
    const addresses = [`tcp://127.0.0.1:${await closedPort()}`, ...quicAddresses(server)]
    const conn = await client.connect({ peerId: server.peerId, addresses })
    expect(conn.transport).toBe('quic')
    expect(conn.fallback).toEqual({ from: 'tcp', reason: 'refused' })
    expect(events.map((e) => [e.from, e.to, e.reason])).toEqual([['tcp', 'quic', 'refused']])
    expect(Buffer.from(await conn.request(Buffer.from('hi'))).toString()).toBe('echo hi')
  })

  it('falls back to QUIC within the delay when TCP hangs', async () => {
    const server = await startNode(['tcp', 'quic'])
    const client = await startNode(['tcp', 'quic'], { connection: { fallbackDelay: 250 } })
    const addresses = [`tcp://127.0.0.1:${await silentPort()}`, ...quicAddresses(server)]
    const started = performance.now()
    const conn = await client.connect({ peerId: server.peerId, addresses })
    const elapsed = performance.now() - started
    expect(conn.transport).toBe('quic')
    expect(conn.fallback?.reason).toBe('timeout')
    expect(elapsed).toBeGreaterThanOrEqual(240)
    expect(elapsed).toBeLessThan(250 + 2000) // the delay plus one QUIC handshake
  })

  it('honours the configured order and a pinned transport', async () => {
    const server = await startNode(['tcp', 'quic'])
    const quicFirst = await startNode(['tcp', 'quic'], { connection: { transportPreference: ['quic', 'tcp'] } })
    expect((await quicFirst.connect({ peerId: server.peerId, addresses: server.addresses })).transport).toBe('quic')
    const pinned = await startNode(['tcp', 'quic'])
    expect((await pinned.connect({ peerId: server.peerId, addresses: server.addresses }, { transport: 'quic' })).transport).toBe('quic')
  })

  it('lets QUIC-only and TCP-only peers interoperate with a dual-stack node', async () => {
    const dual = await startNode(['tcp', 'quic'])
    const quicOnly = await startNode(['quic'])
    const tcpOnly = await startNode(['tcp'])
    const viaQuic = await quicOnly.connect({ peerId: dual.peerId, addresses: dual.addresses })
    const viaTcp = await tcpOnly.connect({ peerId: dual.peerId, addresses: dual.addresses })
    expect(viaQuic.transport).toBe('quic')
    expect(viaTcp.transport).toBe('tcp')
    expect(Buffer.from(await viaQuic.request(Buffer.from('q'))).toString()).toBe('echo q')
    expect(Buffer.from(await viaTcp.request(Buffer.from('t'))).toString()).toBe('echo t')
    // And the dual node dials each over the only transport it has.
    const other = await startNode(['tcp', 'quic'])
    expect((await other.connect({ peerId: quicOnly.peerId, addresses: quicOnly.addresses })).transport).toBe('quic')
    expect((await other.connect({ peerId: tcpOnly.peerId, addresses: tcpOnly.addresses })).transport).toBe('tcp')
    expect(tcpAddresses(quicOnly)).toEqual([])
  })
})

const support = labSupport()
if (!support.ok) announceSkip('TCP-dropped-by-firewall fallback test (network namespaces)', support.reason)

describe.runIf(support.ok)('TCP silently dropped by a firewall (network namespaces)', () => {
  it('falls back to QUIC within the delay plus one QUIC handshake', async () => {
    const lab = NetLab.create()
    try {
      const a = await lab.addNamespace('a')
      const b = await lab.addNamespace('b')
      await lab.link(a, '192.0.2.1/24', b, '192.0.2.2/24')
      // b's firewall drops every TCP segment to its port: SYNs get no answer at all.
      await lab.nft(b, 'table inet fw {\n chain input {\n type filter hook input priority 0;\n tcp dport 4001 drop\n }\n}\n')
      const server = await LabHost.start(lab, b, {
        config: {},
        transports: [
          { kind: 'tcp', options: { host: '192.0.2.2', port: 4001 } },
          { kind: 'quic', options: { host: '192.0.2.2', port: 4001 } },
        ],
      })
      const client = await LabHost.start(lab, a, {
        config: { connection: { fallbackDelay: 250 } },
        transports: [
          { kind: 'tcp', options: { host: '192.0.2.1' } },
          { kind: 'quic', options: { host: '192.0.2.1' } },
        ],
      })
      const result = (await client.call('connect', { peer: { peerId: server.peerId, addresses: server.addresses } })) as {
        transport: string
        fallback?: { from: string; reason: string }
        ms: number
      }
      expect(result.transport).toBe('quic')
      expect(result.fallback).toEqual({ from: 'tcp', reason: 'timeout' })
      expect(result.ms).toBeLessThan(250 + 2000)
      expect(await client.call('request', { peerId: server.peerId, data: 'through the firewall' })).toBe('echo:through the firewall')
    } finally {
      await lab.destroy()
    }
  }, 60_000)
})
