import { describe, expect, it } from 'vitest'
import type { Connection } from '../../src/connection/connection.js'
import { ConnectionPool, chooseSurvivor } from '../../src/manager/pool.js'

function fake(peerId: string, direction: 'inbound' | 'outbound', method: Connection['method'] = 'direct'): Connection {
  return { peerId, direction, method } as Connection
}

describe('simultaneous-open tie-break', () => {
  it('keeps the connection dialled by the higher peer id, the same on both sides', () => {
    const low = 'bciqaaaa'
    const high = 'bciqzzzz'
    // On the low node: its own outbound vs the high node's inbound.
    const onLow = chooseSurvivor(fake(high, 'outbound'), fake(high, 'inbound'), low)
    expect(onLow.direction).toBe('inbound') // dialled by high
    // On the high node: its own outbound vs the low node's inbound.
    const onHigh = chooseSurvivor(fake(low, 'inbound'), fake(low, 'outbound'), high)
    expect(onHigh.direction).toBe('outbound') // dialled by high
  })

  it('prefers the newer connection when both run the same way (the peer restarted)', () => {
    const older = fake('bciqpeer', 'inbound')
    const newer = fake('bciqpeer', 'inbound')
    expect(chooseSurvivor(older, newer, 'bciqself')).toBe(newer)
  })
})

describe('two connections one node dialled (dial tags)', () => {
  const tagged = (direction: 'inbound' | 'outbound', node: string, dial: number, attempt: number): Connection =>
    ({ ...fake('bciqpeer', direction), race: { node, dial, attempt } }) as Connection

  it('of one dial, the earlier attempt, whichever completed first, on both ends', () => {
    for (const direction of ['outbound', 'inbound'] as const) {
      const tcp = tagged(direction, 'n1', 7, 0)
      const quic = tagged(direction, 'n1', 7, 1)
      expect(chooseSurvivor(tcp, quic, 'bciqself')).toBe(tcp)
      expect(chooseSurvivor(quic, tcp, 'bciqself')).toBe(tcp)
    }
  })

  it('of two dials, the later dial, whichever completed first', () => {
    const fullAttempt = tagged('outbound', 'n1', 3, 0)
    const quickCheck = tagged('outbound', 'n1', 4, 0)
    expect(chooseSurvivor(fullAttempt, quickCheck, 'bciqself')).toBe(quickCheck)
    expect(chooseSurvivor(quickCheck, fullAttempt, 'bciqself')).toBe(quickCheck)
  })

  it('untagged, or tagged by another node instance (the dialler restarted): the newer', () => {
    const old = tagged('inbound', 'n1', 9, 0)
    const restarted = tagged('inbound', 'n2', 0, 0)
    expect(chooseSurvivor(old, restarted, 'bciqself')).toBe(restarted)
    const untagged = fake('bciqpeer', 'inbound')
    expect(chooseSurvivor(old, untagged, 'bciqself')).toBe(untagged)
    expect(chooseSurvivor(untagged, old, 'bciqself')).toBe(old)
  })
})

describe('relay upgrade', () => {
  it('a direct path replaces a relayed one, whichever arrived first and on both sides', () => {
    const low = 'bciqaaaa'
    const high = 'bciqzzzz'
    const relayed = fake(high, 'outbound', 'relayed')
    const punched = fake(high, 'inbound', 'punched')
    expect(chooseSurvivor(relayed, punched, low)).toBe(punched)
    expect(chooseSurvivor(punched, relayed, low)).toBe(punched)
    // The other side sees the same two connections with directions swapped.
    const relayedThere = fake(low, 'inbound', 'relayed')
    const punchedThere = fake(low, 'outbound', 'punched')
    expect(chooseSurvivor(relayedThere, punchedThere, high)).toBe(punchedThere)
  })
})

describe('ConnectionPool', () => {
  it('holds one connection per peer and reports the loser', () => {
    const pool = new ConnectionPool('bciqaaaa')
    const first = fake('bciqzzzz', 'outbound')
    expect(pool.add(first)).toEqual({ winner: first })
    const second = fake('bciqzzzz', 'inbound')
    const { winner, loser } = pool.add(second)
    expect(winner).toBe(second)
    expect(loser).toBe(first)
    expect(pool.size).toBe(1)
    pool.remove(first) // not pooled any more: no effect
    expect(pool.get('bciqzzzz')).toBe(second)
    pool.remove(second)
    expect(pool.size).toBe(0)
  })
})
