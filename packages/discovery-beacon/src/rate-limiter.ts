/**
 * A bounded map of token buckets (core's `TokenBucket`) keyed by source, so a
 * flood from many sources cannot grow memory without limit.
 *
 * @packageDocumentation
 */
import type { RateLimit } from '@crust/core'
import { TokenBucket } from '@crust/core/plugin'

/**
 * One token bucket per key (e.g. a source IP), at most `maxKeys` of them.
 * When full, buckets that have refilled completely are forgotten first (they
 * carry no state), then the least recently used. A forgotten source starts
 * again with a full bucket, which bounds what a flood from many spoofed
 * sources can gain to one burst each; combine with a global bucket for a hard
 * cap.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(
    private readonly limit: RateLimit,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Take one token from `key`'s bucket; false when that source is over its rate. */
  take(key: string): boolean {
    let bucket = this.buckets.get(key)
    if (bucket) {
      this.buckets.delete(key) // re-insert: Map order is recency
    } else {
      if (this.buckets.size >= this.maxKeys) this.evict()
      bucket = new TokenBucket(this.limit, this.now)
    }
    this.buckets.set(key, bucket)
    return bucket.take()
  }

  /** Number of sources tracked (never more than `maxKeys`). */
  get size(): number {
    return this.buckets.size
  }

  /** Forget every source. */
  clear(): void {
    this.buckets.clear()
  }

  private evict(): void {
    // Full buckets are free to forget; scan a bounded number of the oldest.
    let scanned = 0
    for (const [key, bucket] of this.buckets) {
      if (bucket.isFull()) this.buckets.delete(key)
      if (++scanned >= 64) break
    }
    while (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next().value
      if (oldest === undefined) break
      this.buckets.delete(oldest)
    }
  }
}
