import { AuthenticationError, CloseCode, type CloseInfo, DialError, HandshakeFailedError, isCrustError } from '@crust/core'
import { asError } from '@crust/core/plugin'

/** OpenSSL error codes that mean the other side refused our certificate, or we refused theirs. */
const certificateFailure = /CERT|ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE|UNSUPPORTED_CERTIFICATE|HANDSHAKE_FAILURE|DECRYPT_ERROR|ACCESS_DENIED)|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|DEPTH_ZERO/

/** True when a socket or TLS error is an authentication failure. */
export function isCertificateError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && certificateFailure.test(code)
}

/** Turn a socket-level dial failure into a typed Crust error. */
export function dialFailure(address: string, error: unknown): Error {
  if (isCrustError(error, 'ERR_ABORTED') || isCrustError(error, 'ERR_TIMEOUT') || isCrustError(error, 'ERR_AUTHENTICATION')) return error
  const cause = asError(error)
  if (isCertificateError(cause)) return new AuthenticationError(`TLS authentication with ${address} failed: ${cause.message}`, { cause })
  return new DialError(`${address}: ${cause.message}`, [{ address, error: cause }], { cause })
}

/** Turn a failed inbound TLS handshake into a typed Crust error (not a `DialError`: we dialled nobody). */
export function inboundFailure(address: string, error: unknown): Error {
  const cause = asError(error)
  if (isCertificateError(cause)) return new AuthenticationError(`TLS authentication with ${address} failed: ${cause.message}`, { cause })
  return new HandshakeFailedError(`${address}: TLS handshake failed: ${cause.message}`, { cause })
}

/** A connection that died on a TLS alert about certificates closed for an authentication reason. */
export function classifyClose(info: CloseInfo): CloseInfo {
  if (info.code !== CloseCode.AUTH_FAILED && isCertificateError(info.error)) {
    return { ...info, code: CloseCode.AUTH_FAILED, reason: `TLS authentication failed: ${info.error?.message ?? ''}` }
  }
  return info
}
