import { ProtocolError } from '../errors.js'

/**
 * Every message travels alone on its own stream, behind this 8-byte header:
 *
 * | byte | field                                  |
 * |------|----------------------------------------|
 * | 0    | version (1)                            |
 * | 1    | kind ({@link MessageKind})             |
 * | 2-3  | reserved, zero                         |
 * | 4-7  | payload length, u32 big-endian         |
 *
 * The length lets a receiver refuse an oversized message before reading it.
 */
export const MESSAGE_HEADER_SIZE = 8
export const MESSAGE_VERSION = 1

/** What a stream carries. */
export const MessageKind = {
  /** A user message on a unidirectional stream; no answer. */
  SEND: 0,
  /** A user request on a bidirectional stream; the receiver answers. */
  REQUEST: 1,
  /** The answer to a request. */
  RESPONSE: 2,
  /** The receiver's handler failed; the payload is a UTF-8 error message. */
  ERROR_RESPONSE: 3,
  /** Core handshake from the dialer (network name, role). */
  HELLO: 4,
  /** Core handshake answer from the listener. */
  WELCOME: 5,
} as const
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind]

const knownKinds = new Set<number>(Object.values(MessageKind))

/** A decoded message header. */
export interface MessageHeader {
  readonly kind: MessageKind
  readonly length: number
}

/** Encode a header into a fresh buffer with room for `payloadRoom` more bytes after it. */
export function encodeMessageHeader(kind: MessageKind, length: number, payloadRoom = 0): Buffer {
  const buffer = Buffer.allocUnsafe(MESSAGE_HEADER_SIZE + payloadRoom)
  buffer[0] = MESSAGE_VERSION
  buffer[1] = kind
  buffer.writeUInt16BE(0, 2)
  buffer.writeUInt32BE(length, 4)
  return buffer
}

/** Header and payload in one buffer, so a small message leaves as one frame. */
export function encodeMessage(kind: MessageKind, payload: Uint8Array): Buffer {
  const buffer = encodeMessageHeader(kind, payload.byteLength, payload.byteLength)
  buffer.set(payload, MESSAGE_HEADER_SIZE)
  return buffer
}

/** Decode and validate a header. Throws `ProtocolError` for unknown versions or kinds. */
export function decodeMessageHeader(bytes: Uint8Array): MessageHeader {
  if (bytes.byteLength < MESSAGE_HEADER_SIZE) throw new ProtocolError('truncated message header')
  if (bytes[0] !== MESSAGE_VERSION) throw new ProtocolError(`unsupported message version ${bytes[0]}`)
  const kind = bytes[1] as number
  if (!knownKinds.has(kind)) throw new ProtocolError(`unknown message kind ${kind}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { kind: kind as MessageKind, length: view.getUint32(4) }
}
