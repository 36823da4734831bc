import { TokenBucket } from '@crust/core/plugin'

/** Keys remembered at most; the least recently seen are forgotten first, so memory stays bounded. */
const MAX_KEYS = 4096

/** A token bucket per key (a peer id), bounded in the number of keys. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(private readonly limit: { readonly perSecond: number; readonly burst: number }) {}

  /** Take one token for `key`; false when the key is over its rate. */
  take(key: string): boolean {
    let bucket = this.buckets.get(key)
    this.buckets.delete(key) // re-inserted: Map order is recency
    bucket ??= new TokenBucket(this.limit)
    this.buckets.set(key, bucket)
    if (this.buckets.size > MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value as string)
    return bucket.take()
  }
}
