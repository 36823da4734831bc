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
  /** `admit` refused: nothing was recorded, reported or connected. */
  readonly limited?: boolean
}

const NOTHING: PeerDecision = { report: false, connect: false }
const LIMITED: PeerDecision = { report: false, connect: false, limited: true }

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

  /**
   * Record a peer heard with `addresses`, and decide whether to report and
   * connect. A new peer, or one whose addresses changed, needs `admit` first
   * (a budget, e.g. per source IP); when it refuses, nothing is recorded, so
   * the peer is acted on at a later beacon once the budget allows.
   */
  observe(peerId: string, addresses: readonly string[], admit: () => boolean = () => true): PeerDecision {
    const now = this.now()
    const key = addresses.join(' ')
    const entry = this.peers.get(peerId)
    const wouldReport = !entry || entry.addresses !== key || now - entry.reportedAt >= this.reportInterval
    const wouldConnect = wouldReport || (entry !== undefined && now - entry.connectAt >= this.connectInterval)
    if (!wouldConnect) {
      this.touch(peerId)
      return NOTHING
    }
    if ((!entry || entry.addresses !== key) && !admit()) return LIMITED
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

  private touch(peerId: string): void {
    const entry = this.peers.get(peerId)
    if (!entry) return
    this.peers.delete(peerId)
    this.peers.set(peerId, entry)
  }

  /** Number of peers held (never more than `maxPeers`). */
  get size(): number {
    return this.peers.size
  }

  clear(): void {
    this.peers.clear()
  }
}
