/**
 * Chooses which connection to close when the node is full and another one
 * must be admitted, so that idle connections (throw-away identities holding
 * slots with keep-alives) make way for peers in use, while the peers the node
 * depends on are never touched.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection/connection.js'

/** Options of {@link ConnectionPruner}. */
export interface PrunerOptions {
  /** A connection younger than this (ms) is never pruned: it has not had time to prove useful. */
  readonly gracePeriod: number
  /** Whether a peer is protected (bootstrap contact, relay in use, marked by the application). */
  readonly isProtected: (peerId: string) => boolean
  /** Clock, for tests. */
  readonly now?: () => number
}

/** Traffic within this long (ms) counts as recent use. */
export const RECENT_USE_MS = 60_000

/**
 * The pruning order, least valuable first: connections without recent useful
 * traffic before those with it, then inbound before outbound (an outbound
 * connection is one this node chose to make), then client-role peers before
 * nodes, then the one idle longest.
 */
export function compareValue(a: Connection, b: Connection, now: number): number {
  const recent = (c: Connection): number => (now - c.lastActiveAt < RECENT_USE_MS ? 1 : 0)
  const outbound = (c: Connection): number => (c.direction === 'outbound' ? 1 : 0)
  const node = (c: Connection): number => (c.remoteRole === 'node' ? 1 : 0)
  return recent(a) - recent(b) || outbound(a) - outbound(b) || node(a) - node(b) || a.lastActiveAt - b.lastActiveAt
}

/** Picks connections to close (see {@link compareValue}); it never closes anything itself. */
export class ConnectionPruner {
  private readonly now: () => number

  constructor(private readonly options: PrunerOptions) {
    this.now = options.now ?? Date.now
  }

  /** Whether `connection` may be pruned at all. */
  prunable(connection: Connection): boolean {
    return this.now() - connection.openedAt >= this.options.gracePeriod && !this.options.isProtected(connection.peerId)
  }

  /** How many of `connections` may be pruned. */
  countPrunable(connections: Iterable<Connection>): number {
    let count = 0
    for (const connection of connections) if (this.prunable(connection)) count++
    return count
  }

  /** The least valuable prunable connection other than `except`, if any. */
  victim(connections: Iterable<Connection>, except?: Connection): Connection | undefined {
    const now = this.now()
    let least: Connection | undefined
    for (const connection of connections) {
      if (connection === except || !this.prunable(connection)) continue
      if (least === undefined || compareValue(connection, least, now) < 0) least = connection
    }
    return least
  }
}
