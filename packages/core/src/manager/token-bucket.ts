/**
 * A token bucket: `ratePerSecond` tokens a second, up to `burst` saved. Used
 * to budget work a remote peer can trigger (dial-backs, auto-connect dials)
 * node-wide, so no number of peers can make the node do more than the budget.
 */
export class TokenBucket {
  #tokens: number
  #updatedAt: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError(`TokenBucket: rate ${ratePerSecond}/s and burst ${burst} must be positive`)
    this.#tokens = burst
    this.#updatedAt = now()
  }

  /** Take one token if there is one; false when the budget is spent. */
  tryTake(): boolean {
    const now = this.now()
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.ratePerSecond)
    this.#updatedAt = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
