/** A connection the {@link KeepAlives} look after. */
export interface KeepAliveMember {
  /** When the last datagram of this connection arrived (`performance.now()` clock). */
  readonly lastReceivedAt: number
  /** Send one ack-eliciting packet (a PING) now. */
  ping(): void
}

/**
 * Keep-alives for every QUIC connection of a transport, from one timer.
 *
 * The library's keep-alive is a timer object per connection that sends a
 * PING every interval whatever else happens, from both ends: with 2,000 idle
 * connections a listener handled 400 PINGs and their ACKs a second. Here one
 * timer ticks eight times per interval, and a connection sends a PING only
 * when nothing arrived from its peer for about an interval. A PING that
 * arrives, or the ACK of one, counts: so whichever end's tick comes first
 * pings, the other end answers with its ACK and has no reason to ping, and
 * an idle connection costs one PING and one ACK per interval instead of two
 * of each. What keep-alives are for still holds: both ends send a packet at
 * least once per interval (the ACK, or the PING), which keeps a NAT mapping
 * open and the peer's idle timer from expiring; both receive one, which
 * keeps ours from expiring.
 */
export class KeepAlives {
  private readonly members = new Set<KeepAliveMember>()
  private readonly lastPing = new WeakMap<KeepAliveMember, number>()
  private readonly tick: number
  private timer: NodeJS.Timeout | undefined

  /** @param interval - most time (ms) a connection is left without a packet from its peer before it pings. */
  constructor(private readonly interval: number) {
    this.tick = Math.max(25, Math.floor(interval / 8))
  }

  add(member: KeepAliveMember): void {
    this.members.add(member)
    if (this.timer === undefined) {
      this.timer = setInterval(this.run, this.tick)
      this.timer.unref()
    }
  }

  delete(member: KeepAliveMember): void {
    this.members.delete(member)
    if (this.members.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  private readonly run = (): void => {
    const now = performance.now()
    // Ping at the tick before the interval runs out, so the peer hears from us within it.
    const due = this.interval - this.tick
    for (const member of this.members) {
      const last = Math.max(member.lastReceivedAt, this.lastPing.get(member) ?? 0)
      if (now - last < due) continue
      this.lastPing.set(member, now)
      member.ping()
    }
  }
}
