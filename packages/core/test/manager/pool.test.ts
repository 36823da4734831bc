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
