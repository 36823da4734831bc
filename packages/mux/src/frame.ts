/**
 * Wire format constants and header encoding. Every frame is a 12-byte
 * big-endian header, followed by `length` payload bytes for DATA and GO_AWAY
 * only (for the other types `length` is a value, not a payload size):
 *
 * | bytes | field     |
 * |-------|-----------|
 * | 0     | version (0) |
 * | 1     | type      |
 * | 2-3   | flags     |
 * | 4-7   | stream id (GO_AWAY: close code) |
 * | 8-11  | length    |
 *
 * @packageDocumentation
 */

/** The only protocol version. */
export const VERSION = 0

/** Size of a frame header in bytes. */
export const HEADER_LENGTH = 12

/** Frame types (header byte 1). */
export const FrameType = {
  /** Stream data; SYN opens, FIN half-closes, RST resets (4-byte code payload). */
  DATA: 0,
  /** `length` is a credit delta in bytes for the stream. */
  WINDOW_UPDATE: 1,
  /** Stream 0; SYN asks, ACK answers; `length` is an opaque value echoed back. */
  PING: 2,
  /** Stream id field is the close code; `length` bytes of UTF-8 reason follow. */
  GO_AWAY: 3,
  /** Stream 0; `length` is the cumulative number of streams the peer may open. */
  MAX_STREAMS: 4,
} as const
/** A value of {@link FrameType}. */
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

/** Frame flags (header bytes 2-3), combinable. */
export const Flag = {
  /** First frame of a stream, sent by its opener. */
  SYN: 0x1,
  /** Ping reply. */
  ACK: 0x2,
  /** The sender will send no more data on this stream. */
  FIN: 0x4,
  /** Abrupt close of both directions; payload is a u32 reset code. */
  RST: 0x8,
  /** With SYN: the stream is unidirectional (opener writes, acceptor reads). */
  UNI: 0x100,
} as const

/** Largest DATA payload a decoder accepts. */
export const MAX_FRAME_PAYLOAD = 1024 * 1024
/** Largest DATA payload this implementation sends; writes are split into frames this size. */
export const MAX_WRITE_FRAME = 64 * 1024
/** Largest GO_AWAY reason in bytes. */
export const MAX_REASON_LENGTH = 256
/** Payload size of a DATA frame carrying RST: the u32 reset code. */
export const RST_PAYLOAD_LENGTH = 4
/** Largest stream id (u32). */
export const MAX_STREAM_ID = 0xffff_ffff

/**
 * Receive window every stream starts with, a protocol constant both sides
 * assume without negotiation so the opener can send at once.
 */
export const INITIAL_WINDOW = 256 * 1024
/** Streams a peer may open before any MAX_STREAMS frame arrived. */
export const INITIAL_MAX_STREAMS = 32

/** A decoded frame. `payload` is set for DATA and GO_AWAY frames only. */
export interface Frame {
  readonly type: number
  readonly flags: number
  /** Stream id; for GO_AWAY the close code. */
  readonly streamId: number
  /** Payload size for DATA/GO_AWAY, otherwise the frame's value. */
  readonly length: number
  readonly payload: Uint8Array | undefined
}

/** Encode a 12-byte header into a new buffer. */
export function encodeHeader(type: number, flags: number, streamId: number, length: number): Buffer {
  // allocUnsafe of a small size is served from Node's shared pool: cheap.
  const b = Buffer.allocUnsafe(HEADER_LENGTH)
  writeHeader(b, 0, type, flags, streamId, length)
  return b
}

/** Write a 12-byte header into `target` at `offset`. */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  type: number,
  flags: number,
  streamId: number,
  length: number,
): void {
  target[offset] = VERSION
  target[offset + 1] = type
  target[offset + 2] = (flags >>> 8) & 0xff
  target[offset + 3] = flags & 0xff
  target[offset + 4] = streamId >>> 24
  target[offset + 5] = (streamId >>> 16) & 0xff
  target[offset + 6] = (streamId >>> 8) & 0xff
  target[offset + 7] = streamId & 0xff
  target[offset + 8] = length >>> 24
  target[offset + 9] = (length >>> 16) & 0xff
  target[offset + 10] = (length >>> 8) & 0xff
  target[offset + 11] = length & 0xff
}

/** Encode a whole frame (header and optional payload) into one buffer; used for control frames and tests. */
export function encodeFrame(type: number, flags: number, streamId: number, lengthOrPayload: number | Uint8Array): Buffer {
  if (typeof lengthOrPayload === 'number') return encodeHeader(type, flags, streamId, lengthOrPayload)
  const b = Buffer.allocUnsafe(HEADER_LENGTH + lengthOrPayload.length)
  writeHeader(b, 0, type, flags, streamId, lengthOrPayload.length)
  b.set(lengthOrPayload, HEADER_LENGTH)
  return b
}

/** True when frames of `type` carry `length` payload bytes after the header. */
export function hasPayload(type: number): boolean {
  return type === FrameType.DATA || type === FrameType.GO_AWAY
}

/** A GO_AWAY reason as UTF-8, cut to at most {@link MAX_REASON_LENGTH} bytes without splitting a character. */
export function encodeReason(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= MAX_REASON_LENGTH) return bytes
  let end = MAX_REASON_LENGTH
  // Step back over continuation bytes (10xxxxxx) to a character boundary.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}
