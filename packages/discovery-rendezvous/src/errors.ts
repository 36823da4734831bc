import { CrustError } from '@crust/core'

/** Why a peer record was rejected. */
export type RecordRejection =
  /** Not a well-formed record: bad JSON, a field out of bounds, too large. */
  | 'malformed'
  /** The signature does not verify, or the key does not belong to the record's peer id (forged or altered). */
  | 'signature'
  /** Signed for another network (another `networkName`). */
  | 'network'
  /** Its expiry has passed. */
  | 'expired'
  /** Its expiry lies further ahead than any honest record's (`maxTtl` plus clock skew). */
  | 'too-long'
  /** For another peer than the one asked for or the one that submitted it. */
  | 'wrong-peer'
  /** Older (lower sequence number) than a record of the same peer already seen: a replay. */
  | 'replayed'

/**
 * A peer record failed verification. `code` is `ERR_RENDEZVOUS_RECORD`;
 * {@link RecordError.reason} says why.
 */
export class RecordError extends CrustError {
  constructor(
    /** Why the record was rejected. */
    readonly reason: RecordRejection,
    message: string,
  ) {
    super('ERR_RENDEZVOUS_RECORD', `peer record rejected (${reason}): ${message}`)
  }
}

/** Why a rendezvous request failed; the server sends these words back in `error` frames. */
export type RendezvousFailure =
  /** The peer already has `maxRegistrationsPerPeer` registrations (topics) on this server. */
  | 'too-many-registrations'
  /** The topic already has `maxRegistrationsPerTopic` registrations. */
  | 'topic-full'
  /** The server holds `maxRegistrations` in all. */
  | 'server-full'
  /** The peer sent requests faster than the server's per-peer rate. */
  | 'rate-limited'
  /** The submitted record failed verification (the message says why). */
  | 'invalid-record'
  /** The submitted record is older than the one the server holds for the peer. */
  | 'stale-record'
  /** The record is not the submitting peer's own. */
  | 'wrong-peer'
  /** No live record for the peer id looked up. */
  | 'not-found'
  /** A malformed or oversized frame. */
  | 'bad-message'
  /** No answer in time. */
  | 'timeout'
  /** The peer does not serve the rendezvous protocol, or the server refused. */
  | 'refused'
  /** No rendezvous server is connected (client side). */
  | 'no-server'
  /** A record was found but none of its addresses could be dialled (client side). */
  | 'unreachable'

/**
 * A rendezvous request failed. `code` is `ERR_RENDEZVOUS`;
 * {@link RendezvousError.reason} is machine-readable.
 */
export class RendezvousError extends CrustError {
  constructor(
    /** What went wrong. */
    readonly reason: RendezvousFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('ERR_RENDEZVOUS', message, options)
  }
}
