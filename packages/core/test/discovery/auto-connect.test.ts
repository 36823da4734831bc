import { describe, expect, it } from 'vitest'
import { AutoConnectBudget, autoConnectSchema } from '../../src/discovery/auto-connect.js'

function clock(start = 0) {
  let now = start
  return {
    now: () => now,
    advance: (ms: number): void => {
      now += ms
    },
  }
}

describe('auto-connect budget', () => {
  it('allows a burst of dials, then the refill rate; one token per address', () => {
    const c = clock()
    const budget = new AutoConnectBudget(autoConnectSchema.parse({ burst: 5, rate: 2, maxAddresses: 2 }), c.now)
    const a = budget.reserve('a', ['tcp://10.0.0.1:1', 'quic://10.0.0.1:1', 'tcp://10.0.0.1:2'])
    expect(a.ok && a.addresses).toEqual(['tcp://10.0.0.1:1', 'quic://10.0.0.1:1']) // maxAddresses
    const b = budget.reserve('b', ['tcp://10.0.0.2:1', 'quic://10.0.0.2:1'])
    expect(b.ok && b.addresses.length).toBe(2)
    const c1 = budget.reserve('c', ['tcp://10.0.0.3:1', 'quic://10.0.0.3:1'])
    expect(c1.ok && c1.addresses).toEqual(['tcp://10.0.0.3:1']) // only one token left
    expect(budget.reserve('d', ['tcp://10.0.0.4:1'])).toEqual({ ok: false, reason: 'budget' })
    c.advance(500)
    expect(budget.reserve('d', ['tcp://10.0.0.4:1']).ok).toBe(true)
    expect(budget.stats()).toMatchObject({ attempted: 4, dials: 6, skipped: { budget: 1 }, pending: 4 })
  })

  it('one attempt per peer at a time, and at most maxPending at once', () => {
    const budget = new AutoConnectBudget(autoConnectSchema.parse({ burst: 100, maxPending: 2 }))
    const a = budget.reserve('a', ['tcp://10.0.0.1:1'])
    expect(budget.reserve('a', ['tcp://10.0.0.1:1'])).toEqual({ ok: false, reason: 'in-progress' })
    expect(budget.reserve('b', ['tcp://10.0.0.2:1']).ok).toBe(true)
    expect(budget.reserve('c', ['tcp://10.0.0.3:1'])).toEqual({ ok: false, reason: 'pending' })
    if (a.ok) a.release()
    expect(budget.reserve('c', ['tcp://10.0.0.3:1']).ok).toBe(true)
  })

  it('rejects bad limits', () => {
    expect(autoConnectSchema.safeParse({ rate: 0 }).success).toBe(false)
    expect(autoConnectSchema.safeParse({ maxAddresses: 33 }).success).toBe(false)
    expect(autoConnectSchema.parse({})).toEqual({ rate: 10, burst: 20, maxAddresses: 2, maxPending: 16, yieldDelay: 1_000 })
  })
})
