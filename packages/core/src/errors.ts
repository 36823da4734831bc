/**
 * Typed errors. Every failure a user can meet is one of these, with a stable
 * `code` string to switch on, so callers never have to parse messages.
 *
 * @packageDocumentation
 */

/** Base class of every error Crust throws. */
export class CrustError extends Error {
  /** Stable machine-readable code, e.g. `ERR_BLACKLISTED`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** The node configuration failed validation; `issues` names each bad field. */
export class ConfigError extends CrustError {
  constructor(
    message: string,
    readonly issues: ReadonlyArray<{ path: string; message: string }> = [],
  ) {
    super('ERR_CONFIG', message)
  }
}

/** A key, certificate or CA file is missing, unreadable or corrupt. */
export class IdentityError extends CrustError {
  constructor(
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super('ERR_IDENTITY', message, options)
  }
}

/** The remote peer's certificate failed the node's auth mode (wrong key, bad chain, none presented). */
export class AuthenticationError extends CrustError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_AUTHENTICATION', message, options)
  }
}

/** A peer id, address or CIDR is blacklisted. */
export class BlacklistedError extends CrustError {
  constructor(message: string) {
    super('ERR_BLACKLISTED', message)
  }
}

/** The peer belongs to a different network (network name hashes differ). */
export class NetworkMismatchError extends CrustError {
  constructor(message: string) {
    super('ERR_NETWORK_MISMATCH', message)
  }
}

/** A connection limit (total, inbound per IP) refused the connection. */
export class ConnectionLimitError extends CrustError {
  constructor(message: string) {
    super('ERR_CONNECTION_LIMIT', message)
  }
}

/** The remote side refused or closed the connection with a reason code. */
export class ConnectionClosedError extends CrustError {
  constructor(
    message: string,
    readonly closeCode: number = 0,
    options?: { cause?: unknown },
  ) {
    super('ERR_CONNECTION_CLOSED', message, options)
  }
}

/** Every address of a peer failed; `errors` holds one reason per attempt. */
export class DialError extends CrustError {
  constructor(
    message: string,
    readonly errors: ReadonlyArray<{ address: string; error: Error }> = [],
    options?: { cause?: unknown },
  ) {
    super('ERR_DIAL_FAILED', message, options)
  }
}

/** `connectAny` found no live candidate; `errors` holds each peer's reason. */
export class AllCandidatesFailedError extends CrustError {
  constructor(
    message: string,
    readonly errors: ReadonlyArray<{ peerId?: string; error: Error }> = [],
  ) {
    super('ERR_ALL_CANDIDATES_FAILED', message)
  }
}

/** An operation was cancelled through its AbortSignal. */
export class AbortError extends CrustError {
  constructor(message = 'The operation was aborted') {
    super('ERR_ABORTED', message)
  }
}

/** An operation did not finish within its deadline. */
export class TimeoutError extends CrustError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message)
  }
}

/** A message exceeds the configured maximum size (locally or at the receiver). */
export class MessageTooLargeError extends CrustError {
  constructor(
    message: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super('ERR_MESSAGE_TOO_LARGE', message)
  }
}

/** A peer sent bytes that violate the wire protocol (bad frame, bad header, truncated message). */
export class ProtocolError extends CrustError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PROTOCOL', message, options)
  }
}

/** A stream was reset by either side before it finished. */
export class StreamResetError extends CrustError {
  constructor(
    message: string,
    readonly resetCode: number = 0,
    readonly remote = true,
  ) {
    super('ERR_STREAM_RESET', message)
  }
}

/**
 * A stream operation that its state does not allow: writing after `end()`,
 * writing on the acceptor side of a unidirectional stream, or two concurrent
 * reads. It is a programming error in the caller, not a network failure, so
 * it is distinct from {@link StreamResetError}. Every transport's streams
 * (the muxer's, QUIC's) throw this one class.
 */
export class StreamStateError extends CrustError {
  constructor(message: string) {
    super('ERR_STREAM_STATE', message)
  }
}

/** The remote message handler threw while answering a request. */
export class RemoteHandlerError extends CrustError {
  constructor(message: string) {
    super('ERR_REMOTE_HANDLER', message)
  }
}

/** The node is not started, or is stopping. */
export class NotStartedError extends CrustError {
  constructor(message = 'The node is not running') {
    super('ERR_NOT_STARTED', message)
  }
}

/** No configured transport can dial the given address. */
export class UnsupportedAddressError extends CrustError {
  constructor(readonly address: string) {
    super('ERR_UNSUPPORTED_ADDRESS', `No transport can dial ${address}`)
  }
}

/** A peer claiming the node role could not be reached at the addresses it claimed. */
export class ReachabilityError extends CrustError {
  constructor(message: string) {
    super('ERR_UNREACHABLE', message)
  }
}

/**
 * An inbound connection attempt failed its TLS (or QUIC) handshake before the
 * peer was authenticated: garbage instead of a ClientHello, a peer that hung
 * up, an unsupported protocol version. Not a dial of ours, so not a `DialError`.
 */
export class HandshakeFailedError extends CrustError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_HANDSHAKE_FAILED', message, options)
  }
}

/** Bootstrap found no peer to join; `errors` holds each candidate's reason. */
export class BootstrapError extends CrustError {
  constructor(
    message: string,
    readonly errors: ReadonlyArray<{ peerId?: string; addresses: readonly string[]; source: string; error: Error }> = [],
  ) {
    super('ERR_BOOTSTRAP_FAILED', message)
  }
}

/**
 * A remote peer overran a resource bound (a queue, buffer or memory budget)
 * and was cut off: its stream was reset or its connection closed. `limit`
 * names the bound, e.g. `mux.maxQueuedControlFrames` or
 * `connection.maxPendingMessageBytes`, so it can be raised in config.
 */
export class LimitExceededError extends CrustError {
  constructor(
    message: string,
    readonly limit: string,
  ) {
    super('ERR_LIMIT_EXCEEDED', message)
  }
}
