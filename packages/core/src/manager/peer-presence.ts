/**
 * Peer-level events, distinct from the connection-level ones: a peer is
 * connected while the pool holds a connection to it, whichever connection
 * that is. Replacing one connection by another (a direct path for a relayed
 * one, the survivor of a simultaneous open) is not a disconnection.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import type { Connection } from '../connection/connection.js'
import { Tokens } from '../di/tokens.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { CloseInfo } from '../transport/types.js'

/** Peers whose last disconnection is remembered, for `peer:reconnected`'s gap: the oldest are forgotten first. */
export const REMEMBERED_DISCONNECTIONS = 4096

/** Emits `peer:connected`, `peer:disconnected` and `peer:reconnected`. */
@injectable()
export class PeerPresence {
  /** When each peer last lost its last connection (`performance.now()`) and where it could be reached, oldest first. */
  private readonly lost = new Map<string, { readonly at: number; readonly addresses: readonly string[] }>()

  constructor(@inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>) {}

  /** `connection` is now the pool's only connection to a peer that had none. */
  connected(connection: Connection): void {
    const peerId = connection.peerId
    this.events.emit('peer:connected', { peerId, connection })
    const lost = this.lost.get(peerId)
    if (lost === undefined) return
    this.lost.delete(peerId)
    this.events.emit('peer:reconnected', { peerId, connection, gapMs: Math.round(performance.now() - lost.at) })
  }

  /** The pool lost its last connection to `peerId`, which closed with `info`; it was reachable at `addresses`. */
  disconnected(peerId: string, info: CloseInfo, addresses: readonly string[]): void {
    this.lost.delete(peerId)
    this.lost.set(peerId, { at: performance.now(), addresses: addresses.slice(0, 16) })
    if (this.lost.size > REMEMBERED_DISCONNECTIONS) {
      const oldest = this.lost.keys().next().value
      if (oldest !== undefined) this.lost.delete(oldest)
    }
    this.events.emit('peer:disconnected', { peerId, code: info.code, reason: info.reason, remote: info.remote })
  }

  /** Where `peerId` could be reached before it lost its last connection, if it has none now and that is remembered. */
  lastAddresses(peerId: string): readonly string[] {
    return this.lost.get(peerId)?.addresses ?? []
  }
}
