/**
 * Connection reversal: of the two ends of a relayed connection, the one that
 * cannot be dialled (behind a NAT that drops what it did not ask for) dials
 * the other at once when the other can be (a port mapping, a public
 * address), as libp2p's connection reversal and iroh do. The relayed
 * connection is the signal; the direct dial replaces it.
 *
 * @packageDocumentation
 */
import { isGlobalAddress } from '@crust/core/plugin'

/**
 * When this end makes its first upgrade attempt: `reverse` at once (we
 * cannot be dialled, the peer claims an address dialable from anywhere),
 * `first` after the upgrade delay, `second` one delay later (the peer goes
 * first). Without a reachability difference the higher peer id goes first,
 * as before.
 *
 * Only the timing changes: every end still makes its usual bounded series
 * of attempts to the addresses the peer claimed, so a lying claim costs what
 * an upgrade attempt costs anyway.
 */
export function upgradeOrder(input: {
  readonly ownPeerId: string
  readonly peerId: string
  /** This node is dialable from anywhere (its traversal reports say so). */
  readonly ownReachable: boolean
  /** The addresses the peer claimed in its handshake. */
  readonly claimed: readonly string[]
}): 'reverse' | 'first' | 'second' {
  const peerReachable = input.claimed.some(isGlobalAddress)
  if (!input.ownReachable && peerReachable) return 'reverse'
  if (input.ownReachable && !peerReachable) return 'second'
  return input.ownPeerId > input.peerId ? 'first' : 'second'
}
