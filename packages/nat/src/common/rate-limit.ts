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
