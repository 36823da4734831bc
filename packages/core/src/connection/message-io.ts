import { MessageTooLargeError, ProtocolError, StreamResetError } from '../errors.js'
import type { TransportStream } from '../transport/types.js'
import {
  MESSAGE_HEADER_SIZE,
  type MessageKind,
  decodeMessageHeader,
  encodeMessage,
  encodeMessageHeader,
} from './message-header.js'
import { StreamResetCode } from './stream-codes.js'

/** Above this size the payload is written separately instead of copied next to its header. */
const COPY_LIMIT = 64 * 1024

/** A message read off a stream. */
export interface ReadMessage {
  readonly kind: MessageKind
  readonly data: Uint8Array
}

/** Write one whole message and close the write side. */
export async function writeMessage(stream: TransportStream, kind: MessageKind, payload: Uint8Array): Promise<void> {
  if (payload.byteLength <= COPY_LIMIT) {
    await stream.write(encodeMessage(kind, payload), { end: true })
    return
  }
  await stream.write(encodeMessageHeader(kind, payload.byteLength))
  await stream.write(payload, { end: true })
}

/**
 * Read exactly one message: header, then `length` payload bytes, then the end
 * of the stream. A header announcing more than `maxSize` resets the stream
 * before any payload is buffered; a short or overlong stream is a protocol error.
 */
export async function readMessage(stream: TransportStream, maxSize: number): Promise<ReadMessage> {
  let header: Buffer | undefined
  let pending: Uint8Array | undefined
  let payload: Buffer | undefined
  let filled = 0
  let kind: MessageKind | undefined
  for await (const chunk of stream) {
    let bytes: Uint8Array = chunk
    if (header === undefined) {
      bytes = pending === undefined ? chunk : Buffer.concat([pending, chunk])
      if (bytes.byteLength < MESSAGE_HEADER_SIZE) {
        pending = bytes
        continue
      }
      pending = undefined
      header = Buffer.from(bytes.buffer, bytes.byteOffset, MESSAGE_HEADER_SIZE)
      const decoded = decodeMessageHeader(header)
      kind = decoded.kind
      if (decoded.length > maxSize) {
        stream.reset(StreamResetCode.MESSAGE_TOO_LARGE)
        throw new MessageTooLargeError(
          `incoming message of ${decoded.length} bytes exceeds the limit of ${maxSize}`,
          decoded.length,
          maxSize,
        )
      }
      bytes = bytes.subarray(MESSAGE_HEADER_SIZE)
      // Fast path: the whole payload came with the header; keep it without copying.
      if (bytes.byteLength === decoded.length) {
        payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        filled = bytes.byteLength
        continue
      }
      payload = Buffer.allocUnsafe(decoded.length)
    }
    if (payload === undefined || filled + bytes.byteLength > payload.byteLength) {
      stream.reset(StreamResetCode.PROTOCOL_ERROR)
      throw new ProtocolError('stream carried more bytes than its message header announced')
    }
    if (bytes.byteLength > 0) {
      payload.set(bytes, filled)
      filled += bytes.byteLength
    }
  }
  if (kind === undefined || payload === undefined || filled !== payload.byteLength) {
    throw new ProtocolError('stream ended before the whole message arrived')
  }
  return { kind, data: payload }
}

/** Translate a reset sent by the remote reader into the error the local writer should see. */
export function remoteResetError(error: unknown, size: number, limit: number): unknown {
  if (error instanceof StreamResetError && error.remote && error.resetCode === StreamResetCode.MESSAGE_TOO_LARGE) {
    return new MessageTooLargeError(`the receiver refused a message of ${size} bytes as too large`, size, limit)
  }
  return error
}
