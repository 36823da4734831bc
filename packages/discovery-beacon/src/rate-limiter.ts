/**
 * Token buckets: one for a single budget, and a bounded map of them keyed by
 * source so a flood from many sources cannot grow memory without limit.
 *
 * @packageDocumentation
 */

/** Burst size and refill rate of a token bucket. */
export interface RateLimit {
  /** Most tokens held, i.e. the largest burst allowed at once. */
  readonly burst: number
  /** Tokens added per second. */
  readonly perSecond: number
}

/** A single token bucket. Time comes from `now()` in ms so tests can drive it. */
export class TokenBucket {
  private tokens: number
  private updated: number

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = limit.burst
    this.updated = now()
  }

  /** Take one token; false (nothing taken) when the bucket is empty. */
  take(): boolean {
    this.refill()
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /** True when the bucket is full again, i.e. forgetting it loses nothing. */
  isFull(): boolean {
    this.refill()
    return this.tokens >= this.limit.burst
  }

  private refill(): void {
    const at = this.now()
    const elapsed = Math.max(0, at - this.updated)
    this.updated = at
    this.tokens = Math.min(this.limit.burst, this.tokens + (elapsed / 1000) * this.limit.perSecond)
  }
}

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
