import type { Connection } from '../connection/connection.js'

/**
 * Which of two connections to the same peer survives. Both sides apply the same
 * rule, so a simultaneous open ends with the same single connection on each:
 * a direct path beats a relayed one (the upgrade after a relay); otherwise keep
 * the one dialled by the peer with the higher peer id. Two connections in the
 * same direction from one dialling node, whose order both ends know from the
 * handshake: of one dial (TCP and QUIC racing), the earlier attempt (the
 * preferred transport); of two dials (a quick check beside a full attempt, a
 * fresh dial beside a suspect path, a service's dial beside the node's), the
 * later dial. Otherwise (the peer
 * restarted, or an untagged older peer) the older one is stale: keep the newer.
 */
export function chooseSurvivor(existing: Connection, incoming: Connection, localPeerId: string): Connection {
  const existingRelayed = existing.method === 'relayed'
  if (existingRelayed !== (incoming.method === 'relayed')) return existingRelayed ? incoming : existing
  if (existing.direction === incoming.direction) {
    const [a, b] = [existing.race, incoming.race]
    if (a === undefined || b === undefined || a.node !== b.node) return incoming
    if (a.dial === b.dial) return a.attempt <= b.attempt ? existing : incoming
    return a.dial > b.dial ? existing : incoming
  }
  const dialerOf = (connection: Connection): string => (connection.direction === 'outbound' ? localPeerId : connection.peerId)
  return dialerOf(existing) > dialerOf(incoming) ? existing : incoming
}

/** Established connections, one per peer id. */
export class ConnectionPool {
  private readonly byPeer = new Map<string, Connection>()

  constructor(private readonly localPeerId: string) {}

  /** The connection to `peerId`, if any. */
  get(peerId: string): Connection | undefined {
    return this.byPeer.get(peerId)
  }

  /**
   * Add an established connection. If the peer already has one, the tie-break
   * decides; the returned `loser` (if any) must be closed by the caller.
   */
  add(connection: Connection): { winner: Connection; loser?: Connection } {
    const existing = this.byPeer.get(connection.peerId)
    if (existing === undefined) {
      this.byPeer.set(connection.peerId, connection)
      return { winner: connection }
    }
    const winner = chooseSurvivor(existing, connection, this.localPeerId)
    const loser = winner === existing ? connection : existing
    this.byPeer.set(connection.peerId, winner)
    return { winner, loser }
  }

  /** Put `newcomer` in the place of `pooled` (same peer), when `pooled` is still the one pooled. */
  replace(pooled: Connection, newcomer: Connection): void {
    if (this.byPeer.get(pooled.peerId) === pooled) this.byPeer.set(newcomer.peerId, newcomer)
  }

  /** Forget `connection` if it is the one pooled for its peer. */
  remove(connection: Connection): void {
    if (this.byPeer.get(connection.peerId) === connection) this.byPeer.delete(connection.peerId)
  }

  /** Every pooled connection. */
  all(): Connection[] {
    return [...this.byPeer.values()]
  }

  get size(): number {
    return this.byPeer.size
  }
}
