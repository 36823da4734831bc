/**
 * The one token bucket every budget in Crust uses (dial-backs, auto-connect
 * dials, punch packets, stateless QUIC replies, beacon answers): work a
 * remote can trigger is refused, never queued, once the budget is spent.
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

/** A token bucket of discrete events. Time comes from `now()` in ms so tests can drive it. */
export class TokenBucket {
  private tokens: number
  private updated: number

  /** @throws RangeError when the rate or burst is not positive. */
  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1)) {
      throw new RangeError(`TokenBucket: perSecond (${limit.perSecond}) must be positive and burst (${limit.burst}) at least 1`)
    }
    this.tokens = limit.burst
    this.updated = now()
  }

  /** Take one token; false (nothing taken) when the bucket is empty. */
  take(): boolean {
    return this.takeUpTo(1) === 1
  }

  /** Take as many of `count` tokens as there are; returns how many were taken. */
  takeUpTo(count: number): number {
    this.refill()
    const taken = Math.max(0, Math.min(count, Math.floor(this.tokens)))
    this.tokens -= taken
    return taken
  }

  /** True when the bucket is full again, i.e. forgetting it loses nothing. */
  isFull(): boolean {
    this.refill()
    return this.tokens >= this.limit.burst
  }

  private refill(): void {
    const at = this.now()
    this.tokens = Math.min(this.limit.burst, this.tokens + (Math.max(0, at - this.updated) / 1000) * this.limit.perSecond)
    this.updated = at
  }
}
