import type { InboundGate } from '@crust/mux'

/**
 * The peer's open streams on one connection, whatever they travel as: native
 * QUIC streams (bidirectional and unidirectional) and the message channel's
 * mux streams share one bound, `maxInboundStreams`. Each path has a credit
 * of its own (quiche's MAX_STREAMS, the muxer's), so without this a peer
 * could hold the bound on each path at once; a stream past it is reset with
 * `StreamResetCode.REFUSED` before it reaches the core. The channel's own
 * stream is not counted.
 */
export class InboundStreams implements InboundGate {
  private count = 0

  constructor(private readonly limit: number) {}

  /** The peer's streams open now (admitted and not finished). */
  get open(): number {
    return this.count
  }

  admit(): boolean {
    if (this.count >= this.limit) return false
    this.count++
    return true
  }

  release(): void {
    if (this.count > 0) this.count--
  }
}
