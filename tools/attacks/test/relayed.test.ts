/**
 * The attacks on a relayed connection: the attacker reaches the victim only
 * through a relay, so every byte it sends is carried (and paid for) by the
 * relay. The victim's defences must hold there too, and the relay and the
 * victim's other peers must be unharmed.
 */
import { CloseCode, type CrustNode, type NodeConfigInput } from '@crust/core'
import { waitUntil } from '@crust/core/testing'
import { relay, relayServer } from '@crust/nat'
import { describe, expect, it } from 'vitest'
import { contactOf, startNode } from './nodes.js'

/** R relays; the victim and the attacker are clients connected to R only. */
async function relayedPair(victimConfig: Partial<NodeConfigInput> = {}): Promise<{ r: CrustNode; victim: CrustNode; attacker: CrustNode }> {
  const client = relay({ upgrade: false })
  const r = await startNode('tcp', { services: [relayServer()] })
  const victim = await startNode('tcp', { role: 'client', services: [relay({ upgrade: false })], ...victimConfig })
  const attacker = await startNode('tcp', { role: 'client', services: [client] })
  await Promise.all([victim.connect(contactOf(r)), attacker.connect(contactOf(r))])
  return { r, victim, attacker }
}

describe('attacks over a relayed connection', () => {
  it('a malformed-stream flood through a relay: the attacker is disconnected, the relay link and other peers unharmed', async () => {
    const { r, victim, attacker } = await relayedPair({ connection: { maxProtocolErrors: 16 } })
    victim.handle(() => Buffer.from('served'))
    const errors: Error[] = []
    victim.on('error', ({ error }) => errors.push(error))
    const connection = await attacker.connect({ peerId: victim.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
    const flood = (async () => {
      for (let i = 0; i < 100; i++) {
        const stream = await connection.transportConnection.openStream({ bidirectional: false })
        await stream.write(Buffer.from('\xff\xffnot a crust message header'))
        await stream.end()
      }
    })().catch(() => {})
    const closed = await connection.closed
    await flood
    expect(closed.code).toBe(CloseCode.PROTOCOL_ERROR)
    expect(closed.reason).toMatch(/too many protocol errors/)
    expect(errors.length).toBeLessThanOrEqual(10)
    // The victim's link to its relay is intact and serves a genuine peer.
    expect(victim.getConnection(r.peerId)).toBeDefined()
    const genuine = await startNode('tcp', { role: 'client', services: [relay({ upgrade: false })] })
    await genuine.connect(contactOf(r))
    const served = await genuine.connect({ peerId: victim.peerId, addresses: [] })
    expect(Buffer.from(await served.request(Buffer.from('hi'))).toString()).toBe('served')
  })

  it('a relayed connection that holds a slot idly is pruned for a connection the victim makes; the relay link stays', async () => {
    const { r, victim, attacker } = await relayedPair({
      connection: { maxConnections: 2, pruneGracePeriod: 200 },
    })
    victim.handle(() => Buffer.from('served'))
    const held = await attacker.connect({ peerId: victim.peerId, addresses: [] })
    expect(held.method).toBe('relayed')
    await waitUntil(() => victim.connections.length === 2, 2_000, 'the victim to hold two connections')
    await new Promise((resolve) => setTimeout(resolve, 400))
    // The victim (a client behind its relay) now dials a peer of its own choosing.
    const genuine = await startNode('tcp')
    genuine.handle(() => Buffer.from('hello back'))
    const outbound = await victim.connect(contactOf(genuine))
    expect(Buffer.from(await outbound.request(Buffer.from('hi'))).toString()).toBe('hello back')
    const info = await held.closed
    expect(info.code).toBe(CloseCode.PRUNED)
    expect(victim.getConnection(r.peerId)).toBeDefined()
  })

  it('the relays a node depends on are protected from pruning: configured ones always, others while they carry a circuit', async () => {
    const r = await startNode('tcp', { services: [relayServer()] })
    const other = await startNode('tcp', { services: [relayServer()] })
    const behind = await startNode('tcp', { role: 'client', services: [relay({ upgrade: false, relays: [contactOf(r)] })] })
    await waitUntil(() => behind.getConnection(r.peerId) !== undefined, 5_000, 'the link to the configured relay')
    expect(behind.isProtected(r.peerId)).toBe(true)

    const dialer = await startNode('tcp', { role: 'client', services: [relay({ upgrade: false })] })
    await Promise.all([dialer.connect(contactOf(other)), behind.connect(contactOf(other))])
    expect(dialer.isProtected(other.peerId)).toBe(false)
    const viaOther = await dialer.connect({ peerId: behind.peerId, addresses: [] }) // R is not connected to the dialer: through `other`
    expect(viaOther.method).toBe('relayed')
    expect(dialer.isProtected(other.peerId)).toBe(true)
    await viaOther.close()
    await waitUntil(() => !dialer.isProtected(other.peerId), 2_000, 'the circuit hold to be released')
    await behind.stop()
    expect(behind.isProtected(r.peerId)).toBe(false)
  })
})
