/**
 * Application protocol names (`node.handle('/chat/1', ...)`,
 * `conn.openStream('/files/1')`): what they may look like, and how a message
 * carries one.
 *
 * @packageDocumentation
 */
import { ConfigError, ProtocolError } from '../errors.js'

/** Longest application protocol name, in bytes (it is ASCII). */
export const MAX_APP_PROTOCOL_NAME = 128

/**
 * A protocol name: a `/`, then 1 to 127 of `A-Z a-z 0-9 / . _ - + ~ : @`,
 * e.g. `/chat/1` or `/acme/files/2.1`. Plain ASCII so it can be compared
 * byte for byte, logged and announced in the handshake as it is.
 */
export const APP_PROTOCOL_PATTERN: RegExp = /^\/[A-Za-z0-9/._\-+~:@]{1,127}$/

/** True when `name` is a well-formed application protocol name. */
export function isAppProtocolName(name: string): boolean {
  return APP_PROTOCOL_PATTERN.test(name)
}

/** Throw `ConfigError` for a malformed name given by the application. */
export function checkAppProtocolName(name: string): void {
  if (typeof name !== 'string' || !APP_PROTOCOL_PATTERN.test(name)) {
    throw new ConfigError(
      `${JSON.stringify(name)} is not a protocol name: a '/' then 1 to 127 of A-Z a-z 0-9 / . _ - + ~ : @ (e.g. '/chat/1')`,
    )
  }
}

/**
 * The prefix a named message carries in front of its payload: one byte of
 * length, then the name (ASCII). Followed by the envelope for a
 * peer-addressed message, then the data.
 */
export function encodeNamePrefix(name: string, envelope?: Uint8Array): Buffer {
  const length = name.length
  const prefix = Buffer.allocUnsafe(1 + length + (envelope?.byteLength ?? 0))
  prefix[0] = length
  prefix.write(name, 1, 'latin1')
  if (envelope !== undefined) prefix.set(envelope, 1 + length)
  return prefix
}

/** Split a named message's payload into its protocol name and the rest; `ProtocolError` for a malformed one. */
export function decodeNamePrefix(payload: Uint8Array): { protocol: string; rest: Uint8Array } {
  const length = payload[0] ?? 0
  if (payload.byteLength < 1 + length) throw new ProtocolError('named message shorter than its protocol name')
  const protocol = Buffer.from(payload.buffer, payload.byteOffset + 1, length).toString('latin1')
  if (!APP_PROTOCOL_PATTERN.test(protocol)) throw new ProtocolError(`malformed protocol name in a named message`)
  return { protocol, rest: payload.subarray(1 + length) }
}
