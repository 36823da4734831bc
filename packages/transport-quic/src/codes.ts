/**
 * QUIC and TLS numbers this transport sends or interprets, and how a QUIC
 * close maps onto the core's {@link CloseCode}s (the core's `errorFromClose`
 * then names the typed error).
 *
 * @packageDocumentation
 */
import { CloseCode, type CloseInfo } from '@crust/core'

/** QUIC transport error codes (RFC 9000 §20.1) that matter here. */
export const TransportError = {
  NO_ERROR: 0x0,
  INTERNAL_ERROR: 0x1,
  CONNECTION_REFUSED: 0x2,
  APPLICATION_ERROR: 0xc,
} as const

/** TLS alerts (RFC 8446 §6) used to refuse a certificate; QUIC sends them as `0x100 + alert`. */
export const TlsAlert = {
  BAD_CERTIFICATE: 42,
  CERTIFICATE_EXPIRED: 45,
  UNKNOWN_CA: 48,
  ACCESS_DENIED: 49,
  INTERNAL_ERROR: 80,
  CERTIFICATE_REQUIRED: 116,
  /** The peers share no application protocol (ALPN): not Crust, or another version of it. */
  NO_APPLICATION_PROTOCOL: 120,
} as const
/** A value of {@link TlsAlert}. */
export type TlsAlert = (typeof TlsAlert)[keyof typeof TlsAlert]

const CRYPTO_ERROR_START = 0x100
const CRYPTO_ERROR_END = 0x1ff

/** The QUIC crypto error code carrying `alert`. */
export function cryptoError(alert: TlsAlert): number {
  return CRYPTO_ERROR_START + alert
}

/** True when a QUIC transport error code is a TLS alert (the handshake or a certificate failed). */
export function isCryptoError(code: number): boolean {
  return code >= CRYPTO_ERROR_START && code <= CRYPTO_ERROR_END
}

const alertNames: Record<number, string> = {
  40: 'handshake failure',
  42: 'bad certificate',
  43: 'unsupported certificate',
  45: 'certificate expired',
  46: 'certificate unknown',
  48: 'unknown CA',
  49: 'access denied',
  80: 'internal error',
  116: 'certificate required',
  120: 'no application protocol',
}

/** Human-readable name of a crypto error code, e.g. `unknown CA (TLS alert 48)`. */
export function describeCryptoError(code: number): string {
  const alert = code - CRYPTO_ERROR_START
  return `${alertNames[alert] ?? 'TLS alert'} (TLS alert ${alert})`
}

/**
 * A refusal before the handshake (gate) travels as a transport
 * CONNECTION_REFUSED whose reason phrase starts with this prefix and the
 * Crust close code: the only close a QUIC server can send with a reason at
 * that stage.
 */
const REFUSAL_PREFIX = 'crust:'

/** Reason phrase of a pre-handshake refusal with a Crust close code. */
export function encodeRefusal(code: number, reason: string): Buffer {
  return encodeReason(`${REFUSAL_PREFIX}${code}:${reason}`)
}

/** Longest reason phrase sent; it must fit a single packet with room to spare. */
const MAX_REASON_BYTES = 512

/** UTF-8 bytes of a close reason, cut to {@link MAX_REASON_BYTES}. */
export function encodeReason(reason: string): Buffer {
  const bytes = Buffer.from(reason, 'utf8')
  return bytes.length <= MAX_REASON_BYTES ? bytes : bytes.subarray(0, MAX_REASON_BYTES)
}

/** The fields of a QUIC CONNECTION_CLOSE, as quiche reports them. */
export interface QuicClose {
  readonly isApp: boolean
  readonly errorCode: number
  readonly reason: Uint8Array
}

/**
 * Map a QUIC CONNECTION_CLOSE to the core's {@link CloseInfo}: application
 * closes carry Crust codes as they are; TLS alerts are authentication
 * failures, except "no application protocol" (no common ALPN), a protocol error; a refusal carries its code in the reason; anything else from the
 * transport layer is a protocol error.
 */
export function closeInfoOf(close: QuicClose, remote: boolean, error?: Error): CloseInfo {
  const text = Buffer.from(close.reason).toString('utf8')
  const withError = error === undefined ? {} : { error }
  if (close.isApp) return { code: close.errorCode, reason: text, remote, ...withError }
  if (close.errorCode === cryptoError(TlsAlert.NO_APPLICATION_PROTOCOL)) {
    // A TLS alert, but no verdict on anyone's identity: the peer speaks another protocol.
    const detail = `no common application protocol (ALPN): ${remote ? 'the remote peer' : 'this node'} found none in common`
    return { code: CloseCode.PROTOCOL_ERROR, reason: text || `${detail} (TLS alert 120)`, remote, ...withError }
  }
  if (isCryptoError(close.errorCode)) {
    const who = remote ? 'the remote peer refused the TLS handshake' : 'this node refused the remote certificate'
    return { code: CloseCode.AUTH_FAILED, reason: text || `${who}: ${describeCryptoError(close.errorCode)}`, remote, ...withError }
  }
  if (close.errorCode === TransportError.CONNECTION_REFUSED && text.startsWith(REFUSAL_PREFIX)) {
    const match = /^crust:(\d+):(.*)$/s.exec(text)
    if (match) return { code: Number(match[1]), reason: match[2] ?? '', remote, ...withError }
  }
  if (close.errorCode === TransportError.NO_ERROR) return { code: CloseCode.NORMAL, reason: text, remote, ...withError }
  return {
    code: close.errorCode === TransportError.INTERNAL_ERROR ? CloseCode.INTERNAL : CloseCode.PROTOCOL_ERROR,
    reason: text || `QUIC transport error 0x${close.errorCode.toString(16)}`,
    remote,
    ...withError,
  }
}
