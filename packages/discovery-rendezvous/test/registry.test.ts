import { describe, expect, it } from 'vitest'
import { type PeerRecord, type SignedRecord, signRecord, verifyRecord } from '../src/record.js'
import { Registry } from '../src/registry.js'
import { hashNetworkName, newIdentity } from './helpers.js'

const network = hashNetworkName('registry-test')
const limits = { maxRegistrationsPerPeer: 3, maxRegistrationsPerTopic: 1000, maxRegistrations: 10_000 }

function recordOf(seq = 1, identity = newIdentity()): { record: PeerRecord; signed: SignedRecord } {
  const signed = signRecord(identity, { network, addresses: ['tcp://127.0.0.1:4001'], nat: {}, seq, expires: Date.now() + 60_000 })
  return { record: verifyRecord(signed, { verify: identity.verify, network, maxTtl: 120_000 }), signed }
}

describe('the registry of a rendezvous server', () => {
  it('paginates: all of 300 registrations come back once, in pages that fit the budget', () => {
    const registry = new Registry(limits)
    const peers = new Set<string>()
    for (let i = 0; i < 300; i++) {
      const { record, signed } = recordOf()
      registry.register('t', record, signed, Date.now() + 60_000)
      peers.add(record.peerId)
    }
    const seen: string[] = []
    let cookie: string | undefined
    let pages = 0
    for (;;) {
      const page = registry.discover('t', cookie, 100, 16_384)
      pages++
      expect(page.records.map((r) => JSON.stringify(r).length).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(16_384)
      for (const signed of page.records) seen.push(verifyRecord(signed, { verify: newIdentity().verify, network, maxTtl: 120_000 }).peerId)
      if (!page.more) break
      cookie = page.cookie
    }
    expect(pages).toBeGreaterThan(3) // the budget, not the limit of 100, cut the pages
    expect(seen).toHaveLength(300)
    expect(new Set(seen)).toEqual(peers)
  })

  it('bounds registrations per peer, per topic and in all with typed errors; a refresh is never refused', () => {
    const registry = new Registry({ maxRegistrationsPerPeer: 2, maxRegistrationsPerTopic: 2, maxRegistrations: 3 })
    const a = recordOf()
    registry.register('x', a.record, a.signed, Date.now() + 10_000)
    registry.register('y', a.record, a.signed, Date.now() + 10_000)
    expect(() => registry.register('z', a.record, a.signed, Date.now() + 10_000)).toThrow(expect.objectContaining({ code: 'ERR_RENDEZVOUS', reason: 'too-many-registrations' }))
    registry.register('x', a.record, a.signed, Date.now() + 20_000) // refresh
    const b = recordOf()
    registry.register('x', b.record, b.signed, Date.now() + 10_000)
    const c = recordOf()
    expect(() => registry.register('x', c.record, c.signed, Date.now() + 10_000)).toThrow(expect.objectContaining({ reason: 'topic-full' }))
    expect(() => registry.register('v', c.record, c.signed, Date.now() + 10_000)).toThrow(expect.objectContaining({ reason: 'server-full' }))
    registry.unregister('y', a.record.peerId)
    registry.register('v', c.record, c.signed, Date.now() + 10_000)
    expect(registry.stats()).toEqual({ registrations: 3, peers: 3, topics: 2 })
  })

  it('refuses a replayed older record and keeps the newer one', () => {
    const registry = new Registry(limits)
    const identity = newIdentity()
    const newer = recordOf(10, identity)
    const older = recordOf(5, identity)
    registry.register('t', newer.record, newer.signed, Date.now() + 10_000)
    expect(() => registry.register('t', older.record, older.signed, Date.now() + 10_000)).toThrow(expect.objectContaining({ reason: 'stale-record' }))
    expect(registry.lookup(identity.peerId)).toEqual(newer.signed)
  })

  it('forgets expired registrations', () => {
    const registry = new Registry(limits)
    const a = recordOf()
    const now = Date.now()
    registry.register('t', a.record, a.signed, now + 1_000, now)
    expect(registry.discover('t', undefined, 10, 65_536, now + 500).records).toHaveLength(1)
    expect(registry.discover('t', undefined, 10, 65_536, now + 1_000).records).toHaveLength(0)
    expect(registry.lookup(a.record.peerId, now + 1_000)).toBeUndefined()
    registry.sweep(now + 1_000)
    expect(registry.stats().registrations).toBe(0)
  })
})
