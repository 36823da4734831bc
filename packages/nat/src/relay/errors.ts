import { CrustError } from '@crust/core'

/**
 * Why a relay refused a circuit, or why a circuit ended.
 *
 * Refusals (answered before any byte is relayed):
 * - `limit`: a relay or target limit was reached (see {@link RelayError.limit}).
 * - `not-connected`: the target is not (directly) connected to the relay.
 * - `self`: the target is the requester itself.
 * - `blacklisted`: the relay or the target blacklists the other party.
 * - `target-refused`: the target declined (its own limits, or it runs no relay client).
 * - `bad-request`: a malformed, oversized or unknown control frame.
 * - `unavailable`: the relay is stopping, or the peer runs no relay server.
 * - `no-relay`: no connected peer could relay to the target.
 * - `timeout`: the relay or the target did not answer in time.
 *
 * Ends of an open circuit (the relay resets it):
 * - `bytes-exceeded`, `duration-exceeded`: the circuit used up its allowance.
 * - `peer-gone`: the other end's stream or connection to the relay closed abruptly.
 * - `shutdown`: the relay is stopping.
 * - `relay-lost`: this node's own connection to the relay closed (the relay died,
 *   or its path was declared dead): every circuit over it ends at once.
 */
export type RelayErrorReason =
  | 'limit'
  | 'not-connected'
  | 'self'
  | 'blacklisted'
  | 'target-refused'
  | 'bad-request'
  | 'unavailable'
  | 'no-relay'
  | 'timeout'
  | 'bytes-exceeded'
  | 'duration-exceeded'
  | 'peer-gone'
  | 'shutdown'
  | 'relay-lost'

/** Which limit refused a circuit, when {@link RelayError.reason} is `limit`. */
export type RelayLimit =
  /** The relay's total circuits. */
  | 'circuits'
  /** The requester's concurrent circuits at the relay. */
  | 'peer-circuits'
  /** The requester's circuit requests per interval at the relay. */
  | 'peer-rate'
  /** The target's own cap on relayed connections. */
  | 'target-circuits'
  /** This node's own cap on relayed connections. */
  | 'relayed-connections'

/** A relay refused a circuit, or ended one; `reason` says why in one word. */
export class RelayError extends CrustError {
  /** Which limit refused the circuit, for reason `limit`. */
  readonly limit: RelayLimit | undefined
  /** The relay's peer id, when known. */
  readonly relay: string | undefined

  constructor(
    readonly reason: RelayErrorReason,
    message: string,
    options?: {
      /** Which limit, for reason `limit`. */
      limit?: RelayLimit
      /** The relay's peer id, when one was involved. */
      relay?: string
      cause?: unknown
      /** No retry can succeed (see `CrustError.permanent`): the connection manager stops retrying. */
      permanent?: boolean
    },
  ) {
    super('ERR_RELAY', message, {
      ...(options?.cause === undefined ? {} : { cause: options.cause }),
      permanent: options?.permanent === true,
    })
    this.limit = options?.limit
    this.relay = options?.relay
  }
}
