/**
 * Typed errors. Every failure a user can meet is one of these, with a stable
 * `code` string to switch on, so callers never have to parse messages.
 *
 * @packageDocumentation
 */
import type { QueueClosedError } from './events/async-queue.js'
import type { InvalidEntryError } from './manager/blacklist.js'
import type { CloseInfo } from './transport/types.js'

/**
 * Every `code` an error of core carries. Plugins may add their own (e.g.
 * `ERR_RELAY`, `ERR_BEACON_DECODE`); {@link CrustError.code} accepts any
 * string for them while core's own codes stay checked by the compiler.
 */
export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_IDENTITY'
  | 'ERR_AUTHENTICATION'
  | 'ERR_BLACKLISTED'
  | 'ERR_NETWORK_MISMATCH'
  | 'ERR_CONNECTION_LIMIT'
  | 'ERR_CONNECTION_CLOSED'
  | 'ERR_DIAL_FAILED'
  | 'ERR_ALL_CANDIDATES_FAILED'
  | 'ERR_ABORTED'
  | 'ERR_TIMEOUT'
  | 'ERR_MESSAGE_TOO_LARGE'
  | 'ERR_PROTOCOL'
  | 'ERR_STREAM_RESET'
  | 'ERR_STREAM_STATE'
  | 'ERR_REMOTE_HANDLER'
  | 'ERR_NOT_STARTED'
  | 'ERR_UNSUPPORTED_ADDRESS'
  | 'ERR_UNREACHABLE'
  | 'ERR_HANDSHAKE_FAILED'
  | 'ERR_BOOTSTRAP_FAILED'
  | 'ERR_LIMIT_EXCEEDED'
  | 'ERR_QUEUE_CLOSED'
  | 'ERR_INVALID_BLACKLIST_ENTRY'
  | 'ERR_DELIVERY_UNKNOWN'
  | 'ERR_PROTOCOL_NOT_SUPPORTED'
  | 'ERR_PROTOCOL_IN_USE'
  | 'ERR_LISTEN'

/**
 * Marks every `CrustError`, of whichever copy of `@crust/core` made it:
 * `Symbol.for` is shared across copies, so {@link isCrustError} recognises
 * an error that `instanceof` would not (two copies in one app).
 */
const CRUST_ERROR = Symbol.for('@crust/core:CrustError')

/** Base class of every error Crust throws. */
export class CrustError extends Error {
  /**
   * Stable machine-readable code, e.g. `ERR_BLACKLISTED`: one of core's
   * {@link ErrorCode}s or a plugin's own. Switch on it (or use
   * {@link isCrustError}) rather than `instanceof`, which fails when an app
   * holds two copies of `@crust/core`.
   */
  readonly code: ErrorCode | (string & {})

  /**
   * `true` when retrying the same operation cannot succeed (e.g. a connector
   * that needs a transport the node lacks, or no peer to relay through): the
   * connection manager stops retrying at once. Set through the constructor's
   * `permanent` option; absent otherwise (the error's code decides then).
   */
  declare readonly permanent?: true

  constructor(code: ErrorCode | (string & {}), message: string, options?: CrustErrorOptions) {
    super(message, options !== undefined && 'cause' in options ? { cause: options.cause } : undefined)
    this.name = new.target.name
    this.code = code
    if (options?.permanent === true) Object.defineProperty(this, 'permanent', { value: true, enumerable: true })
    Object.defineProperty(this, CRUST_ERROR, { value: true })
  }
}

/** Options of a {@link CrustError}. */
export interface CrustErrorOptions {
  /** The error that caused this one. */
  readonly cause?: unknown
  /** No retry of the same operation can succeed (see {@link CrustError.permanent}). */
  readonly permanent?: boolean
}

/** Core's error class for each of its codes, for {@link isCrustError} to narrow to. */
export interface CrustErrorsByCode {
  ERR_CONFIG: ConfigError
  ERR_IDENTITY: IdentityError
  ERR_AUTHENTICATION: AuthenticationError
  ERR_BLACKLISTED: BlacklistedError
  ERR_NETWORK_MISMATCH: NetworkMismatchError
  ERR_CONNECTION_LIMIT: ConnectionLimitError
  ERR_CONNECTION_CLOSED: ConnectionClosedError
  ERR_DIAL_FAILED: DialError
  ERR_ALL_CANDIDATES_FAILED: AllCandidatesFailedError
  ERR_ABORTED: AbortError
  ERR_TIMEOUT: TimeoutError
  ERR_MESSAGE_TOO_LARGE: MessageTooLargeError
  ERR_PROTOCOL: ProtocolError
  ERR_STREAM_RESET: StreamResetError
  ERR_STREAM_STATE: StreamStateError
  ERR_REMOTE_HANDLER: RemoteHandlerError
  ERR_NOT_STARTED: NotStartedError
  ERR_UNSUPPORTED_ADDRESS: UnsupportedAddressError
  ERR_UNREACHABLE: ReachabilityError
  ERR_HANDSHAKE_FAILED: HandshakeFailedError
  ERR_BOOTSTRAP_FAILED: BootstrapError
  ERR_LIMIT_EXCEEDED: LimitExceededError
  ERR_QUEUE_CLOSED: QueueClosedError
  ERR_INVALID_BLACKLIST_ENTRY: InvalidEntryError
  ERR_DELIVERY_UNKNOWN: DeliveryUnknownError
  ERR_PROTOCOL_NOT_SUPPORTED: ProtocolNotSupportedError
  ERR_PROTOCOL_IN_USE: ProtocolInUseError
  ERR_LISTEN: ListenError
}

/**
 * True when `error` is a `CrustError` (with `code`, one of that code), made
 * by this copy of `@crust/core` or another one. Plugins and applications use
 * it instead of `instanceof`: a package manager may install two copies of
 * core, and an `AuthenticationError` of the other copy is not an `instanceof`
 * this copy's class.
 */
export function isCrustError(error: unknown): error is CrustError
export function isCrustError<C extends ErrorCode>(error: unknown, code: C): error is CrustErrorsByCode[C]
export function isCrustError(error: unknown, code: string): error is CrustError
export function isCrustError(error: unknown, code?: string): boolean {
  if (!(error instanceof Error)) return false
  if (!(error instanceof CrustError) && (error as { [CRUST_ERROR]?: unknown })[CRUST_ERROR] !== true) return false
  return code === undefined || (error as CrustError).code === code
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

/** A connection limit (total, inbound per IP) refused the connection; `limit` names it when known (e.g. `connection.maxInboundPerIp`). */
export class ConnectionLimitError extends CrustError {
  constructor(
    message: string,
    readonly limit?: string,
  ) {
    super('ERR_CONNECTION_LIMIT', message)
  }
}

/** The remote side refused or closed the connection with a reason code. */
export class ConnectionClosedError extends CrustError {
  /** How the connection closed, when the transport knew it as this error was raised (see {@link StreamResetError.closeInfo}). */
  readonly closeInfo?: CloseInfo

  constructor(
    message: string,
    readonly closeCode: number = 0,
    options?: { cause?: unknown; closeInfo?: CloseInfo },
  ) {
    super('ERR_CONNECTION_CLOSED', message, options)
    if (options?.closeInfo !== undefined) this.closeInfo = options.closeInfo
  }
}

/** Every address of a peer failed; `errors` holds one reason per attempt. */
export class DialError extends CrustError {
  constructor(
    message: string,
    readonly errors: ReadonlyArray<{ address: string; error: Error }> = [],
    options?: CrustErrorOptions,
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
  /**
   * How the stream's connection closed, when the stream failed because its
   * connection closed (not a reset of this stream alone). Transports set it
   * from the close they just received, so a caller learns the typed reason
   * (`errorFromClose`) with the failure itself instead of waiting for the
   * connection's `closed` to settle.
   */
  readonly closeInfo?: CloseInfo

  constructor(
    message: string,
    readonly resetCode: number = 0,
    readonly remote = true,
    options?: { closeInfo?: CloseInfo },
  ) {
    super('ERR_STREAM_RESET', message)
    if (options?.closeInfo !== undefined) this.closeInfo = options.closeInfo
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

/**
 * A message was handed to the transport, and then the connection or the
 * stream failed before the receiver acknowledged it (for `send`) or answered
 * (for `request`): the peer may or may not have it. `cause` is the failure.
 * Nothing is ever reported as sent without the peer's acknowledgement; a
 * caller that must not lose the message sends it again (`node.send` does,
 * and the receiver drops the duplicate).
 */
export class DeliveryUnknownError extends CrustError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DELIVERY_UNKNOWN', message, options)
  }
}

/**
 * The peer handles no such application protocol: it refused a message
 * (`send`/`request` with `{ protocol }`) or a stream (`openStream`) for
 * `protocol`, at once, before any handler ran.
 */
export class ProtocolNotSupportedError extends CrustError {
  constructor(
    readonly protocol: string,
    message = `the peer does not handle protocol ${protocol}`,
  ) {
    super('ERR_PROTOCOL_NOT_SUPPORTED', message)
  }
}

/**
 * `node.handle(protocol, ...)` or `node.handleStream(protocol, ...)` for a
 * protocol that already has a handler of that kind; pass `{ replace: true }`
 * to replace it on purpose.
 */
export class ProtocolInUseError extends CrustError {
  constructor(readonly protocol: string) {
    super('ERR_PROTOCOL_IN_USE', `protocol ${protocol} already has a handler (pass { replace: true } to replace it)`)
  }
}

/**
 * A transport could not listen on an address when the node started (e.g. the
 * port is in use); the message names the transport, the address and why, and
 * `cause` holds the transport's own error.
 */
export class ListenError extends CrustError {
  constructor(
    /** The transport that tried, e.g. `quic`. */
    readonly transport: string,
    /** The address it could not listen on. */
    readonly address: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('ERR_LISTEN', message, options)
  }
}
