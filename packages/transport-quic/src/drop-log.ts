import type { Logger } from '@crust/core'

/**
 * Why the listener ignored a datagram. Each has a counter; none is logged
 * per packet (a peer could otherwise write our log at line rate).
 */
export type DropReason =
  /** A long-header packet for no known connection in a datagram under 1200 bytes (RFC 9000 §14.1). */
  | 'short-datagram'
  /** A packet for no known connection that cannot start one (not an Initial; e.g. stray packets after a close). */
  | 'unknown-connection'
  /** A Retry or Version Negotiation over the stateless reply budget (`statelessReplyRate`). */
  | 'reply-budget'
  /** A retry token that is not ours, or not for this source address and connection id. */
  | 'token-invalid'
  /** A retry token older than `retryTokenLifetime`. */
  | 'token-expired'
  /** A retry token already used for an attempt. */
  | 'token-reused'
  /** An attempt while `maxPendingHandshakes` handshakes are in progress. */
  | 'handshake-limit'
  /** A non-QUIC datagram (STUN, punching) over `foreignDatagramRate`. */
  | 'foreign-budget'
  /** A datagram the QUIC library could not process. */
  | 'unparsable'

export const DROP_REASONS: readonly DropReason[] = [
  'short-datagram',
  'unknown-connection',
  'reply-budget',
  'token-invalid',
  'token-expired',
  'token-reused',
  'handshake-limit',
  'foreign-budget',
  'unparsable',
]

/** Reasons that normal traffic produces too (late packets of closed connections): summarised at debug level only. */
const ROUTINE: ReadonlySet<DropReason> = new Set(['unknown-connection'])

/**
 * Counts dropped datagrams per reason and logs one summary line per
 * interval in which anything was dropped (a warning when it was more than
 * routine), instead of a line per packet. The timer only runs while there
 * is something to report.
 */
export class DropLog {
  private readonly totals = newCounts()
  private interval = newCounts()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  /** Count one dropped datagram. O(1), no allocation. */
  count(reason: DropReason): void {
    this.totals[reason]++
    this.interval[reason]++
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs)
      this.timer.unref()
    }
  }

  /** Totals since the transport started. */
  snapshot(): Readonly<Record<DropReason, number>> {
    return { ...this.totals }
  }

  /** Report what is pending now and stop the timer. */
  close(): void {
    this.flush()
  }

  private flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const counts = this.interval
    this.interval = newCounts()
    const parts: string[] = []
    let sum = 0
    let routine = true
    for (const reason of DROP_REASONS) {
      const n = counts[reason]
      if (n === 0) continue
      sum += n
      parts.push(`${reason} ${n}`)
      if (!ROUTINE.has(reason)) routine = false
    }
    if (sum === 0) return
    this.logger[routine ? 'debug' : 'warn'](`dropped ${sum} datagram(s) in the last ${Math.round(this.intervalMs / 1000)} s: ${parts.join(', ')}`)
  }
}

function newCounts(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>
}
