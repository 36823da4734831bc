import { describe, expect, it } from 'vitest'
import { TokenBucket } from '../../src/limits/token-bucket.js'

describe('TokenBucket', () => {
  it('allows the burst, then the rate, and never saves more than the burst', () => {
    let now = 0
    const bucket = new TokenBucket({ perSecond: 10, burst: 10 }, () => now)
    expect(Array.from({ length: 15 }, () => bucket.take()).filter(Boolean)).toHaveLength(10)
    now += 500
    expect(Array.from({ length: 10 }, () => bucket.take()).filter(Boolean)).toHaveLength(5)
    now += 60_000
    expect(bucket.isFull()).toBe(true)
    expect(Array.from({ length: 20 }, () => bucket.take()).filter(Boolean)).toHaveLength(10)
  })

  it('takes up to what is there', () => {
    let now = 0
    const bucket = new TokenBucket({ perSecond: 1, burst: 3 }, () => now)
    expect(bucket.takeUpTo(2)).toBe(2)
    expect(bucket.takeUpTo(5)).toBe(1)
    expect(bucket.takeUpTo(5)).toBe(0)
    now += 2_500
    expect(bucket.takeUpTo(5)).toBe(2)
  })

  it('rejects a rate or burst that is not positive', () => {
    expect(() => new TokenBucket({ perSecond: 0, burst: 1 })).toThrow(RangeError)
    expect(() => new TokenBucket({ perSecond: 1, burst: 0 })).toThrow(RangeError)
  })
})
