/**
 * Which side of a pair that discovered each other dials first. A node
 * behind a NAT that drops what it did not ask for (an endpoint-dependent
 * one above all) cannot be dialled, but can dial a peer that holds a port
 * mapping or a public address: if the reachable side dialled, the pair
 * would end relayed where a direct connection was one dial away.
 *
 * @packageDocumentation
 */
import type { TraversalStatus } from '../service/types.js'

/** What the tie-break knows of both sides. */
export interface DialOrderInput {
  readonly ownPeerId: string
  readonly peerId: string
  /** This node is dialable from anywhere (see {@link isReachable}). */
  readonly ownReachable: boolean
  /** The peer says it is (a hint from discovery); undefined when unknown. */
  readonly peerReachable: boolean | undefined
}

/**
 * `dial`: dial at once; `yield`: wait (`yieldDelay`) for the peer to dial,
 * and dial only if it did not. The side that can reach the other dials:
 * an unreachable node dials a reachable peer at once, a reachable node
 * yields to an unreachable one. When both or neither are reachable (or the
 * peer's reachability is unknown), the lower peer id dials at once.
 *
 * A lying hint costs no more than today's tie-break: claiming to be
 * reachable gets one discovery dial, within the auto-connect budget, that
 * the lower-id rule may have given anyway; claiming not to be only delays
 * our dial by `yieldDelay`.
 */
export function dialOrder({ ownPeerId, peerId, ownReachable, peerReachable }: DialOrderInput): 'dial' | 'yield' {
  if (peerReachable !== undefined && peerReachable !== ownReachable) return peerReachable ? 'dial' : 'yield'
  return ownPeerId > peerId ? 'yield' : 'dial'
}

/** True when some traversal report says the node is dialable from anywhere (see `TraversalReport.reachable`). */
export function isReachable(status: TraversalStatus): boolean {
  return Object.values(status).some((report) => report.reachable === true)
}
