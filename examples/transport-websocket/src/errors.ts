import { AbortError, AuthenticationError, CrustError, DialError, HandshakeFailedError, TimeoutError } from '@crust/core'
import { asError } from '@crust/core/plugin'

/** OpenSSL error codes that mean a certificate was refused (ours or theirs). */
const certificateFailure = /CERT|ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE|HANDSHAKE_FAILURE|DECRYPT_ERROR|ACCESS_DENIED)|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|DEPTH_ZERO/

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/** Turn whatever made a dial fail into the typed error the core expects. */
export function dialFailure(address: string, error: unknown): Error {
  if (error instanceof AbortError || error instanceof TimeoutError || error instanceof AuthenticationError) return error
  const cause = asError(error)
  const code = codeOf(cause)
  if (code !== undefined && certificateFailure.test(code)) {
    return new AuthenticationError(`TLS authentication with ${address} failed: ${cause.message}`, { cause })
  }
  if (/handshake has timed out/i.test(cause.message)) {
    return new TimeoutError(`WebSocket handshake with ${address} timed out: ${cause.message}`)
  }
  return new DialError(`${address}: ${cause.message}`, [{ address, error: cause }], { cause })
}

/** The error to report for an inbound attempt that failed before it became a connection. */
export function inboundFailure(label: string, error: unknown): Error {
  const typed = error instanceof CrustError ? error : dialFailure(label, error)
  // Classified like a dial, but nobody dialled: a failure that is not more specific is a failed handshake.
  return typed instanceof DialError ? new HandshakeFailedError(typed.message, { cause: typed.cause ?? typed }) : typed
}
