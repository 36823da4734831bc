/**
 * A token bucket: `ratePerSecond` events per second on average, bursts up to
 * one second's worth. One instance per budget, no per-source state (sources
 * of unvalidated UDP are forgeable, and a per-source map would itself be
 * something a remote can grow).
 */
export class RateBudget {
  private tokens: number
  private last: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = ratePerSecond
    this.last = this.now()
  }

  /** Spend one unit; false when the budget is exhausted. */
  take(): boolean {
    const now = this.now()
    const elapsed = now - this.last
    this.last = now
    this.tokens = Math.min(this.ratePerSecond, this.tokens + (elapsed * this.ratePerSecond) / 1000)
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
