/** Keys remembered at most; the oldest are forgotten first, so memory stays bounded. */
const MAX_KEYS = 4096

/**
 * A per-key fixed-window counter: at most `perMinute` events per key per
 * minute. Cheap, bounded, and enough to stop a peer from making us do work
 * (punching, relaying) in a loop.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>()

  constructor(private readonly perMinute: number) {}

  /** Count one event for `key`; false when the key is over its budget. */
  take(key: string, now = Date.now()): boolean {
    let window = this.windows.get(key)
    if (window === undefined || now - window.start >= 60_000) {
      this.windows.delete(key)
      window = { start: now, count: 0 }
      this.windows.set(key, window)
      if (this.windows.size > MAX_KEYS) this.windows.delete(this.windows.keys().next().value as string)
    }
    window.count++
    return window.count <= this.perMinute
  }
}

/**
 * A token bucket of discrete events: at most `burst` at once, refilled at
 * `perSecond`, never negative. Used for node-wide packet budgets (punch
 * packets), where a smooth rate matters more than per-key fairness. (The
 * relay's byte `TokenBucket` in `relay/limits.ts` throttles instead of refusing.)
 */
export class EventBucket {
  private tokens: number
  private updated: number

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst
    this.updated = now()
  }

  /** Take one token; false (nothing taken) when the bucket is empty. */
  take(): boolean {
    const at = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, at - this.updated) / 1000) * this.perSecond)
    this.updated = at
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
