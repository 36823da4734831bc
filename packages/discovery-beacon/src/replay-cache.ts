/**
 * Freshness and replay protection: a beacon is accepted only within a window
 * around the receiver's clock, and only once (by nonce) within that window.
 *
 * @packageDocumentation
 */

/**
 * Remembers the nonces of accepted beacons until their timestamp leaves the
 * replay window, after which the freshness check alone rejects them. Holds at
 * most `maxEntries`; when full, expired entries are dropped first, then the
 * oldest (a beacon evicted that way could be replayed once more while still
 * fresh, which only repeats a genuine, signed announcement).
 */
export class ReplayCache {
  /** nonce → time (ms) after which the entry is no longer needed. */
  private readonly entries = new Map<string, number>()

  constructor(
    /** Accept timestamps within ± this many ms of our clock. */
    readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when `timestamp` is within the window around now. */
  isFresh(timestamp: number): boolean {
    return Math.abs(this.now() - timestamp) <= this.windowMs
  }

  /** True when this nonce was already accepted (and has not expired). */
  has(nonce: string): boolean {
    const expiry = this.entries.get(nonce)
    return expiry !== undefined && expiry >= this.now()
  }

  /** Record an accepted beacon's nonce. Call only after its signature checked out. */
  add(nonce: string, timestamp: number): void {
    const now = this.now()
    this.prune(now)
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
    this.entries.delete(nonce)
    // Entries are kept until the timestamp leaves the window; then isFresh rejects a replay on its own.
    this.entries.set(nonce, Math.max(timestamp, now) + this.windowMs)
  }

  /** Number of nonces held (never more than `maxEntries`). */
  get size(): number {
    return this.entries.size
  }

  clear(): void {
    this.entries.clear()
  }

  /** Drop expired entries from the front (insertion order roughly follows time), a bounded amount per call. */
  private prune(now: number): void {
    let budget = 32
    for (const [nonce, expiry] of this.entries) {
      if (expiry >= now || budget-- === 0) break
      this.entries.delete(nonce)
    }
  }
}
