import { type CloseInfo, DialError, HandshakeFailedError, TimeoutError, isCrustError } from '@crust/core'
import { asError, errorFromClose } from '@crust/core/plugin'
import { errors } from '@crust/quic-lib'
import { type QuicClose, closeInfoOf } from './codes.js'

function quicClose(error: unknown): QuicClose | undefined {
  const data = (error as { data?: Partial<QuicClose> } | undefined)?.data
  if (data && typeof data.isApp === 'boolean' && typeof data.errorCode === 'number' && data.reason instanceof Uint8Array) {
    return { isApp: data.isApp, errorCode: data.errorCode, reason: data.reason }
  }
  return undefined
}

/**
 * How the connection closed, when `error` is the library's report of a
 * CONNECTION_CLOSE (sent or received): what it fails a connection's streams
 * with, so a stream's reader can learn the typed reason with the failure.
 */
export function closeOfLibraryError(error: unknown): CloseInfo | undefined {
  const close = quicClose(error)
  if (close === undefined || !(error instanceof errors.ErrorQUICConnection)) return undefined
  const remote = error instanceof errors.ErrorQUICConnectionPeer || error instanceof errors.ErrorQUICConnectionPeerTLS
  return closeInfoOf(close, remote)
}

/** The library error behind a failed handshake (the server wraps it in `ErrorQUICServerNewConnection`). */
function rootOf(error: unknown): unknown {
  return error instanceof errors.ErrorQUICServerNewConnection && error.cause !== undefined ? error.cause : error
}

/**
 * Turn a failed QUIC handshake into a typed Crust error: a TLS alert either
 * way is an `AuthenticationError`, a refusal carries its gate code
 * (`BlacklistedError`, `ConnectionLimitError`), a handshake that never
 * finished is a `TimeoutError`, anything else a `DialError` (dialler) or
 * `HandshakeFailedError` (listener: not a dial of ours).
 */
export function handshakeFailure(address: string, error: unknown, side: 'dial' | 'accept', handshakeTimeout: number): Error {
  if (isCrustError(error, 'ERR_ABORTED') || isCrustError(error, 'ERR_TIMEOUT') || isCrustError(error, 'ERR_AUTHENTICATION')) return error
  const root = rootOf(error)
  if (
    root instanceof errors.ErrorQUICConnectionStartTimeout ||
    root instanceof errors.ErrorQUICClientCreateTimeout ||
    root instanceof errors.ErrorQUICConnectionIdleTimeout
  ) {
    return new TimeoutError(`QUIC handshake with ${address} not finished within ${handshakeTimeout} ms`)
  }
  const close = quicClose(root)
  if (close !== undefined) {
    const remote = root instanceof errors.ErrorQUICConnectionPeer || root instanceof errors.ErrorQUICConnectionPeerTLS
    return errorFromClose(closeInfoOf(close, remote), address)
  }
  const cause = asError(root)
  const message = `${address}: QUIC handshake failed: ${cause.message || cause.name}`
  return side === 'dial' ? new DialError(message, [{ address, error: cause }], { cause }) : new HandshakeFailedError(message, { cause })
}
