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
  /** A user message on a bidirectional stream; the receiving core acknowledges it with {@link MessageKind.ACK}. */
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
  /**
   * Opens a service protocol stream: the payload is the protocol name
   * (e.g. `/crust/relay/1`); what follows on the stream belongs to that
   * protocol's handler and is not a single message.
   */
  PROTOCOL: 6,
  /**
   * The receiving core has the whole SEND message (empty payload). Sent
   * before the message is handed to the application, so `send()` resolves
   * on delivery to the node, not on the handler's work.
   */
  ACK: 7,
  /** A peer-addressed message (`node.send`): a 16-byte envelope (see `sequenced.ts`), then the data; acknowledged like SEND. */
  SEQ_SEND: 8,
  /** A peer-addressed request (`node.request`): envelope, then the data; answered like REQUEST. */
  SEQ_REQUEST: 9,
  /**
   * Opens an application stream (`conn.openStream`): the payload is the
   * protocol name (e.g. `/files/1`). The receiver accepts with an empty
   * {@link MessageKind.ACK} header, after which the stream carries raw bytes
   * both ways; it refuses with a reset (`PROTOCOL_NOT_SUPPORTED`,
   * `LIMIT_EXCEEDED`).
   */
  STREAM: 10,
  /**
   * The kinds below are SEND, REQUEST, SEQ_SEND and SEQ_REQUEST addressed to
   * an application protocol: the same kind with {@link NAMED} set, the payload
   * led by the protocol name (one byte of length, then the name; see
   * `protocol-name.ts`), then the envelope of a sequenced kind, then the data.
   * The unnamed kinds stay byte for byte as they were.
   */
  NAMED_SEND: 0x80,
  NAMED_REQUEST: 0x81,
  SEQ_NAMED_SEND: 0x88,
  SEQ_NAMED_REQUEST: 0x89,
} as const
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind]

/** The bit that marks a message kind as addressed to a named application protocol. */
export const NAMED = 0x80

/** `KNOWN_KINDS[kind] === 1` for every kind above. */
const KNOWN_KINDS = new Uint8Array(256)
for (const kind of Object.values(MessageKind)) KNOWN_KINDS[kind] = 1

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
  buffer[2] = 0
  buffer[3] = 0
  buffer[4] = length >>> 24
  buffer[5] = (length >>> 16) & 0xff
  buffer[6] = (length >>> 8) & 0xff
  buffer[7] = length & 0xff
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
  return { kind: checkMessageHeader(bytes, 0), length: messageLength(bytes, 0) }
}

/**
 * Validate the header at `offset` in `bytes` (at least {@link MESSAGE_HEADER_SIZE}
 * bytes from there) and return its kind. Throws `ProtocolError` for unknown
 * versions or kinds.
 */
export function checkMessageHeader(bytes: Uint8Array, offset: number): MessageKind {
  if (bytes.byteLength - offset < MESSAGE_HEADER_SIZE) throw new ProtocolError('truncated message header')
  const version = bytes[offset] as number
  if (version !== MESSAGE_VERSION) throw new ProtocolError(`unsupported message version ${version}`)
  const kind = bytes[offset + 1] as number
  if (KNOWN_KINDS[kind] !== 1) throw new ProtocolError(`unknown message kind ${kind}`)
  return kind as MessageKind
}

/** The payload length of the (already checked) header at `offset` in `bytes`. */
export function messageLength(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset + 4] as number) << 24) |
      ((bytes[offset + 5] as number) << 16) |
      ((bytes[offset + 6] as number) << 8) |
      (bytes[offset + 7] as number)) >>>
    0
  )
}
