import { CrustError, ProtocolError } from '@crust/core'

/** Why a datagram could not be decoded as a beacon. */
export type BeaconDecodeReason =
  /** Larger than the size limit; dropped before any parsing. */
  | 'oversized'
  /** Does not start with the beacon magic bytes. */
  | 'magic'
  /** A wire version this implementation does not speak. */
  | 'version'
  /** A length or count field runs past the end, or bytes are left over. */
  | 'truncated'
  /** The structure parsed but a field failed the schema (bad peer id, address, type...). */
  | 'invalid'

/**
 * A datagram is not a well-formed beacon. The only error {@link decodeBeacon}
 * throws; it is a {@link ProtocolError} (`code` `ERR_PROTOCOL`) with a
 * machine-readable {@link BeaconDecodeError.reason}.
 */
export class BeaconDecodeError extends ProtocolError {
  constructor(
    /** What was wrong with the datagram. */
    readonly reason: BeaconDecodeReason,
    message: string,
  ) {
    super(`bad beacon (${reason}): ${message}`)
  }
}

/** A beacon could not be encoded: a field is out of range, or it cannot fit the size limit even without addresses. */
export class BeaconEncodeError extends CrustError {
  constructor(message: string) {
    super('ERR_BEACON_ENCODE', message)
  }
}
