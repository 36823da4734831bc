import type { Connection } from '../connection/connection.js'
import type { IncomingMessage } from '../connection/incoming.js'
import type { FallbackReason } from '../manager/transport-order.js'
import type { ServiceEvent, TraversalReport, TraversalStatus } from '../service/types.js'
import type { Direction } from '../transport/types.js'

// No index signature: only these names type-check in `node.on(...)`, so a typo
// (`peer:discoverd`) is a compile error rather than a listener that never fires.
/** Every event a node emits, with its payload. */
export interface NodeEvents {
  /** A connection finished its handshake and joined the pool. */
  'connection:open': { readonly connection: Connection }
  /** A pooled connection closed; `remote` tells who closed it, `code` why (see `CloseCode`). */
  'connection:close': {
    readonly connection: Connection
    readonly peerId: string
    readonly code: number
    readonly reason: string
    readonly remote: boolean
    readonly error?: Error
  }
  /** A connection was refused or failed before it was established (blacklist, auth, network, limits, bad handshake). */
  'connection:rejected': {
    readonly direction: Direction
    readonly remoteAddress: string
    readonly peerId?: string
    readonly error: Error
  }
  /** A dial fell back from the preferred transport (e.g. TCP) to another (e.g. QUIC), and why. */
  'connection:fallback': {
    readonly connection: Connection
    readonly peerId: string
    readonly from: string
    readonly to: string
    readonly reason: FallbackReason
  }
  /** The dial-back check of a peer that claimed the node role finished. */
  'peer:verified': {
    readonly peerId: string
    readonly reachable: boolean
    readonly addresses: readonly string[]
    readonly error?: Error
  }
  /** Peers disagree about our external address on a transport. */
  'address:conflict': { readonly transport: string; readonly addresses: readonly string[] }
  /** A bootstrap joined the network through `peerId`. */
  'bootstrap:joined': { readonly peerId: string; readonly source: string; readonly connection: Connection }
  /** A message arrived (also delivered to the handler and `messages()`). */
  message: IncomingMessage
  /**
   * The node has a connection to `peerId` and had none: the first, or one
   * after the last closed. Replacing one connection by another (a direct
   * path for a relayed one) is not a new connection of the peer.
   */
  'peer:connected': { readonly peerId: string; readonly connection: Connection }
  /** The last connection to `peerId` closed: `code` (see `CloseCode`) and `reason` say why, `remote` who closed it. */
  'peer:disconnected': { readonly peerId: string; readonly code: number; readonly reason: string; readonly remote: boolean }
  /** A peer that had lost its last connection has one again, `gapMs` after (follows its `peer:connected`). */
  'peer:reconnected': { readonly peerId: string; readonly connection: Connection; readonly gapMs: number }
  /**
   * A connected peer's application protocols changed (it called `handle`,
   * `handleStream` or `unhandle`): `protocols` is its new list (at most 32,
   * sorted), also in `connection.remoteProtocols`.
   */
  'peer:protocols': { readonly peerId: string; readonly connection: Connection; readonly protocols: readonly string[] }
  /** A discovery plugin or a peer told us about a peer. */
  'peer:discovered': { readonly peerId: string; readonly addresses: readonly string[]; readonly via: string }
  /** The blacklist changed. */
  'blacklist:change': { readonly type: 'add' | 'remove'; readonly entry: string; readonly kind: 'peer' | 'ip' | 'cidr' }
  /**
   * An outbound dial (`connect`, `connectAny`, and the dials `send`, `keep` and
   * bootstrapping make through them) failed for good: after its retries, or
   * at once for a reason no retry fixes. `peerId` when the caller named one;
   * `addresses` the ones it was given; `code` the error's code (e.g.
   * `ERR_TIMEOUT`, `ERR_DIAL_FAILED`; `ERR_UNKNOWN` for an untyped error).
   * Concurrent connects to one peer share a dial and report it once.
   */
  'dial:failed': { readonly peerId?: string; readonly addresses: readonly string[]; readonly code: string; readonly error: Error }
  /** A dial failed and will be retried after `delay` ms. */
  'dial:retry': { readonly peerId?: string; readonly attempt: number; readonly delay: number; readonly error: Error }
  /**
   * A traversal service reported something new about how peers reach this node
   * (`report`, e.g. STUN's reflexive address or UPnP's mappings); `status` holds
   * the latest report of every kind. `natStatus(status)` from `@crust/nat`
   * reads its services' reports as a `NatStatus`.
   */
  'nat:change': { readonly status: TraversalStatus; readonly report: TraversalReport }
  /** A service plugin reported something (e.g. UPnP mapped, no gateway, a punch failed). */
  'service:event': ServiceEvent
  /** Something went wrong that did not belong to a caller (bad bytes from a peer, a handler that threw). */
  error: { readonly error: Error; readonly context: string; readonly peerId?: string }
}
