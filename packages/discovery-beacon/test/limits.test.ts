import { describe, expect, it } from 'vitest'
import { TokenBucket } from '@crust/core/plugin'
import { KeyedRateLimiter } from '../src/rate-limiter.js'
import { PeerTable } from '../src/peer-table.js'
import { ReplayCache } from '../src/replay-cache.js'

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: (ms) => (time += ms) }
}

describe('token buckets', () => {
  it('allow a burst, then the refill rate', () => {
    const c = clock()
    const bucket = new TokenBucket({ burst: 3, perSecond: 2 }, c.now)
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false])
    c.advance(499)
    expect(bucket.take()).toBe(false)
    c.advance(1)
    expect(bucket.take()).toBe(true)
    c.advance(60_000)
    expect(bucket.isFull()).toBe(true)
  })

  it('keep one bucket per source, and at most maxKeys of them', () => {
    const c = clock()
    const limiter = new KeyedRateLimiter({ burst: 2, perSecond: 1 }, 100, c.now)
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, false])
    expect(limiter.take('b')).toBe(true)
    for (let i = 0; i < 10_000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`)
    expect(limiter.size).toBeLessThanOrEqual(100)
  })

  it('forget idle (full) buckets before busy ones', () => {
    const c = clock()
    const limiter = new KeyedRateLimiter({ burst: 2, perSecond: 1 }, 3, c.now)
    limiter.take('busy')
    limiter.take('busy')
    limiter.take('busy') // empty and over its rate
    limiter.take('idle1')
    c.advance(2000) // both full again
    limiter.take('busy') // busy is no longer full: it has state worth keeping
    limiter.take('idle2')
    limiter.take('new')
    expect(limiter.size).toBeLessThanOrEqual(3)
    expect(limiter.take('busy')).toBe(true) // still tracked with its single remaining token...
    expect(limiter.take('busy')).toBe(false) // ...and then over its rate: its state survived the eviction
  })
})

describe('replay cache', () => {
  it('accepts timestamps within the window only', () => {
    const c = clock()
    const cache = new ReplayCache(30_000, 100, c.now)
    expect(cache.isFresh(c.now())).toBe(true)
    expect(cache.isFresh(c.now() - 30_000)).toBe(true)
    expect(cache.isFresh(c.now() - 30_001)).toBe(false)
    expect(cache.isFresh(c.now() + 30_001)).toBe(false)
  })

  it('remembers nonces until their beacon is stale, and never more than maxEntries', () => {
    const c = clock()
    const cache = new ReplayCache(30_000, 100, c.now)
    cache.add('n1', c.now())
    expect(cache.has('n1')).toBe(true)
    c.advance(29_000)
    expect(cache.has('n1')).toBe(true)
    c.advance(2_000)
    expect(cache.has('n1')).toBe(false)
    for (let i = 0; i < 10_000; i++) cache.add(`x${i}`, c.now())
    expect(cache.size).toBeLessThanOrEqual(100)
    expect(cache.has('x9999')).toBe(true)
    c.advance(40_000)
    for (let i = 0; i < 10; i++) cache.add(`y${i}`, c.now()) // prunes expired entries as it goes
    expect(cache.size).toBeLessThan(100)
  })
})

describe('peer table', () => {
  it('reports new peers, changed addresses, and unchanged ones only after reportInterval', () => {
    const c = clock()
    const table = new PeerTable(10, 60_000, 5_000, c.now)
    expect(table.observe('p', ['tcp://10.0.0.1:1'])).toEqual({ report: true, connect: true })
    expect(table.observe('p', ['tcp://10.0.0.1:1'])).toEqual({ report: false, connect: false })
    c.advance(5_000)
    expect(table.observe('p', ['tcp://10.0.0.1:1'])).toEqual({ report: false, connect: true })
    expect(table.observe('p', ['tcp://10.0.0.2:1'])).toEqual({ report: true, connect: true })
    c.advance(60_000)
    expect(table.observe('p', ['tcp://10.0.0.2:1']).report).toBe(true)
  })

  it('asks admit only for new peers or changed addresses, and records nothing when refused', () => {
    const c = clock()
    const table = new PeerTable(10, 60_000, 5_000, c.now)
    let admits = 0
    const refuse = () => {
      admits++
      return false
    }
    expect(table.observe('p', ['tcp://10.0.0.1:1'], refuse)).toEqual({ report: false, connect: false, limited: true })
    expect(table.size).toBe(0)
    expect(table.observe('p', ['tcp://10.0.0.1:1'], () => true)).toEqual({ report: true, connect: true })
    c.advance(5_000)
    expect(table.observe('p', ['tcp://10.0.0.1:1'], refuse)).toEqual({ report: false, connect: true }) // known: no admission
    expect(table.observe('p', ['tcp://10.0.0.2:1'], refuse).limited).toBe(true)
    expect(admits).toBe(2)
  })

  it('holds at most maxPeers', () => {
    const table = new PeerTable(10, 60_000, 5_000)
    for (let i = 0; i < 1000; i++) table.observe(`p${i}`, [])
    expect(table.size).toBe(10)
  })
})
