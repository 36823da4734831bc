/**
 * Known peers, to report each one when it is new, when its addresses change,
 * or again after a while, rather than on every beacon. Bounded, least
 * recently heard forgotten first.
 *
 * @packageDocumentation
 */

interface Entry {
  addresses: string
  reportedAt: number
  connectAt: number
}

/** What to do about a peer just heard from. */
export interface PeerDecision {
  /** Report it (`peer:discovered`). */
  readonly report: boolean
  /** Ask the core to connect (when auto-connect is on); at most once per `connectInterval`. */
  readonly connect: boolean
}

/** A bounded table of peers heard recently. */
export class PeerTable {
  private readonly peers = new Map<string, Entry>()

  constructor(
    private readonly maxPeers: number,
    /** Report an unchanged peer again after this many ms. */
    private readonly reportInterval: number,
    /** Ask to connect to a peer again after this many ms (the core no-ops when connected). */
    private readonly connectInterval: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record a peer heard with `addresses`, and decide whether to report and connect. */
  observe(peerId: string, addresses: readonly string[]): PeerDecision {
    const now = this.now()
    const key = addresses.join(' ')
    const entry = this.peers.get(peerId)
    this.peers.delete(peerId) // re-insert: Map order is recency
    if (!entry) {
      if (this.peers.size >= this.maxPeers) {
        const oldest = this.peers.keys().next().value
        if (oldest !== undefined) this.peers.delete(oldest)
      }
      this.peers.set(peerId, { addresses: key, reportedAt: now, connectAt: now })
      return { report: true, connect: true }
    }
    const report = entry.addresses !== key || now - entry.reportedAt >= this.reportInterval
    const connect = report || now - entry.connectAt >= this.connectInterval
    this.peers.set(peerId, {
      addresses: key,
      reportedAt: report ? now : entry.reportedAt,
      connectAt: connect ? now : entry.connectAt,
    })
    return { report, connect }
  }

  /** Number of peers held (never more than `maxPeers`). */
  get size(): number {
    return this.peers.size
  }

  clear(): void {
    this.peers.clear()
  }
}
