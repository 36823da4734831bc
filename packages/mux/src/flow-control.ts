/**
 * Flow-control policy, kept apart from the stream and muxer mechanics.
 *
 * Two kinds of credit exist: bytes per stream (WINDOW_UPDATE) and the number
 * of streams the peer may open (MAX_STREAMS, cumulative as in QUIC).
 *
 * @packageDocumentation
 */
import { INITIAL_MAX_STREAMS } from './frame.js'

/** Default receive window of a stream: the protocol's initial window. */
export const DEFAULT_INITIAL_WINDOW = 256 * 1024
/** Default ceiling a stream's receive window may grow to. */
export const DEFAULT_MAX_WINDOW = 16 * 1024 * 1024
/**
 * Grow the window when half of it was consumed faster than this (ms) and no
 * round-trip time is known yet. A window the application drains this fast is
 * what limits throughput, so doubling it pays; a slow reader never grows it.
 */
export const DEFAULT_GROW_INTERVAL = 4

/**
 * Credit to grant the sender after the application consumed data, or 0 when
 * no WINDOW_UPDATE is due yet. The sender may have `window - buffered` bytes
 * outstanding; updates are batched until at least half a window is owed, so
 * a bulk transfer costs one small frame per half window.
 *
 * @param window current target window of the stream
 * @param buffered bytes received but not yet consumed by the application
 * @param credit bytes the sender may still send under credit already granted
 */
export function creditDue(window: number, buffered: number, credit: number): number {
  const owed = window - buffered - credit
  return owed * 2 >= window ? owed : 0
}

/**
 * Cumulative stream credit for streams the peer opens towards us. The peer
 * may open up to `advertised` streams over the connection's lifetime; we raise
 * it as inbound streams finish, batched so a stream per message does not cost
 * a MAX_STREAMS frame per message.
 */
export class InboundStreamCredit {
  /** Streams the peer opened so far (SYNs received). */
  opened = 0
  /** Of those, streams fully finished (both directions done and consumed, or reset). */
  finished = 0
  /** Highest total announced to the peer (the implicit initial value counts). */
  advertised = INITIAL_MAX_STREAMS

  constructor(private readonly maxInbound: number) {}

  /** Value of the MAX_STREAMS frame sent right after start. */
  start(): number {
    const value = Math.min(this.finished + this.maxInbound, 0xffff_ffff)
    if (value > this.advertised) this.advertised = value
    return value
  }

  /** Record a new inbound stream; false when it exceeds the credit (a protocol error). */
  open(): boolean {
    if (this.opened >= this.advertised) return false
    this.opened++
    return true
  }

  /**
   * Record a finished inbound stream and return the value of a MAX_STREAMS
   * frame to send now, or undefined when none is due.
   */
  finish(): number | undefined {
    this.finished++
    return this.due()
  }

  /** MAX_STREAMS value to send now, or undefined. */
  due(): number | undefined {
    const max = this.maxInbound
    // MAX_STREAMS is a u32; a connection that finishes 4 billion streams stops there.
    const target = Math.min(this.finished + max, 0xffff_ffff)
    const increase = target - this.advertised
    if (increase <= 0) return undefined
    const headroom = this.advertised - this.opened
    // Plenty of headroom left: the peer is not about to block, keep batching.
    if (headroom * 2 >= max) return undefined
    // Send a worthwhile batch, or anything at all when the peer is out of credit.
    if (headroom > 0 && increase < Math.max(1, max >> 3)) return undefined
    this.advertised = target
    return target
  }
}
