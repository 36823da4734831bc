/**
 * The node-wide budget of dials that discovery may trigger. Discovery
 * plugins report what remote parties announce; without a budget one
 * announcement (or a flood of them from throw-away identities) could make
 * the node dial anything, anywhere, as fast as it can. Every plugin's
 * `connect` goes through this budget in the core, so a new plugin cannot
 * forget it.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { duration } from '../config/duration.js'
import { TokenBucket } from '../limits/token-bucket.js'

/** Schema of the node's `autoConnect` options (limits of dials asked by discovery plugins). */
export const autoConnectSchema = z.strictObject({
  /** Dials per second discovery may trigger, all plugins and peers together (one per address tried). */
  rate: z.number().positive().default(10),
  /** Largest burst of such dials. */
  burst: z.number().int().positive().default(20),
  /** Addresses of one discovered peer dialled at most (the first ones). */
  maxAddresses: z.number().int().positive().max(32).default(2),
  /** Auto-connects in progress at once; more are skipped until one ends. */
  maxPending: z.number().int().positive().default(16),
  /**
   * Of two nodes that discover each other, the one with the higher peer id
   * waits this long (ms) for the other to connect before dialling itself, so
   * that both do not dial at once (a simultaneous open: two `connection:open`
   * and one closed again). 0 dials at once.
   */
  yieldDelay: duration(z.number().int().min(0).max(60_000)).default(1_000),
})

/** Resolved {@link autoConnectSchema}. */
export type AutoConnectLimits = z.output<typeof autoConnectSchema>

/** Why an auto-connect was not attempted. */
export type AutoConnectSkip = 'budget' | 'pending' | 'in-progress'

/** Counters of {@link AutoConnectBudget}, for monitoring and tests. */
export interface AutoConnectStats {
  /** Auto-connects attempted. */
  readonly attempted: number
  /** Dials (addresses) those attempts were allowed. */
  readonly dials: number
  /** Skipped, by reason. */
  readonly skipped: Readonly<Record<AutoConnectSkip, number>>
  /** Auto-connects in progress now. */
  readonly pending: number
}

/**
 * A token bucket of dials (refilled at `rate`, at most `burst`), a cap on
 * concurrent attempts, and one attempt per peer at a time.
 */
export class AutoConnectBudget {
  private readonly bucket: TokenBucket
  private readonly inProgress = new Set<string>()
  private attempted = 0
  private dials = 0
  private readonly skipped: Record<AutoConnectSkip, number> = { budget: 0, pending: 0, 'in-progress': 0 }

  constructor(
    private readonly limits: AutoConnectLimits,
    now: () => number = Date.now,
  ) {
    this.bucket = new TokenBucket({ perSecond: limits.rate, burst: limits.burst }, now)
  }

  /**
   * Reserve an attempt for `peerId` over (at most `maxAddresses` of)
   * `addresses`: one token per address. Returns the addresses to dial and a
   * release to call when the attempt ends, or the reason it must be skipped
   * (nothing is taken then).
   */
  reserve(
    peerId: string,
    addresses: readonly string[],
  ): { readonly ok: true; readonly addresses: readonly string[]; readonly release: () => void } | { readonly ok: false; readonly reason: AutoConnectSkip } {
    const skip = (reason: AutoConnectSkip) => {
      this.skipped[reason]++
      return { ok: false as const, reason }
    }
    if (this.inProgress.has(peerId)) return skip('in-progress')
    if (this.inProgress.size >= this.limits.maxPending) return skip('pending')
    const wanted = addresses.slice(0, this.limits.maxAddresses)
    const count = this.bucket.takeUpTo(wanted.length)
    if (count < 1) return skip('budget')
    this.attempted++
    this.dials += count
    this.inProgress.add(peerId)
    let released = false
    return {
      ok: true,
      addresses: wanted.slice(0, count),
      release: () => {
        if (released) return
        released = true
        this.inProgress.delete(peerId)
      },
    }
  }

  stats(): AutoConnectStats {
    return { attempted: this.attempted, dials: this.dials, skipped: { ...this.skipped }, pending: this.inProgress.size }
  }
}
