import { MessageTooLargeError, ProtocolError, StreamResetError } from '../errors.js'
import type { TransportStream } from '../transport/types.js'
import {
  MESSAGE_HEADER_SIZE,
  MessageKind,
  checkMessageHeader,
  encodeMessage,
  encodeMessageHeader,
  messageLength,
} from './message-header.js'
import { StreamResetCode } from './stream-codes.js'

/** Above this size the payload is written separately instead of copied next to its header. */
const COPY_LIMIT = 64 * 1024

/** A message read off a stream. */
export interface ReadMessage {
  readonly kind: MessageKind
  readonly data: Uint8Array
  /** For {@link MessageKind.PROTOCOL}: the rest of the stream, starting with bytes that came with the header. */
  readonly rest?: StreamRest
}

/** What remains of a stream after its opening message: bytes already read, and the iterator for the others. */
export interface StreamRest {
  readonly leftover: Uint8Array | undefined
  readonly iterator: AsyncIterator<Uint8Array>
}

/** Longest protocol name a PROTOCOL header may announce. */
export const MAX_PROTOCOL_NAME = 128

const END = Object.freeze({ end: true })

/** Write one whole message and close the write side. */
export function writeMessage(stream: TransportStream, kind: MessageKind, payload: Uint8Array): Promise<void> {
  try {
    if (payload.byteLength <= COPY_LIMIT) return stream.write(encodeMessage(kind, payload), END)
    return stream.write(encodeMessageHeader(kind, payload.byteLength)).then(() => stream.write(payload, END))
  } catch (error) {
    return Promise.reject(error)
  }
}

/**
 * Read exactly one message: header, then `length` payload bytes, then the end
 * of the stream. A header announcing more than `maxSize` resets the stream
 * before any payload is buffered; a short or overlong stream is a protocol error.
 */
export async function readMessage(stream: TransportStream, maxSize: number): Promise<ReadMessage> {
  let pending: Uint8Array | undefined
  let payload: Uint8Array | undefined
  let filled = 0
  let kind = -1
  const iterator = stream[Symbol.asyncIterator]()
  for (;;) {
    const next = await iterator.next()
    if (next.done) break
    const chunk = next.value
    let bytes: Uint8Array = chunk
    let at = 0
    if (kind < 0) {
      if (pending !== undefined) bytes = Buffer.concat([pending, chunk])
      if (bytes.byteLength < MESSAGE_HEADER_SIZE) {
        pending = bytes
        continue
      }
      pending = undefined
      kind = checkMessageHeader(bytes, 0)
      const length = messageLength(bytes, 0)
      if (kind === MessageKind.PROTOCOL) return readProtocolName(stream, iterator, bytes, length)
      if (length > maxSize) {
        stream.reset(StreamResetCode.MESSAGE_TOO_LARGE)
        throw new MessageTooLargeError(`incoming message of ${length} bytes exceeds the limit of ${maxSize}`, length, maxSize)
      }
      at = MESSAGE_HEADER_SIZE
      // Fast path: the whole payload came with the header; keep it without copying.
      if (bytes.byteLength - at === length) {
        payload = Buffer.from(bytes.buffer, bytes.byteOffset + at, length)
        filled = length
        continue
      }
      payload = Buffer.allocUnsafe(length)
    }
    const n = bytes.byteLength - at
    if (payload === undefined || filled + n > payload.byteLength) {
      stream.reset(StreamResetCode.PROTOCOL_ERROR)
      throw new ProtocolError('stream carried more bytes than its message header announced')
    }
    if (n > 0) {
      payload.set(at === 0 ? bytes : bytes.subarray(at), filled)
      filled += n
    }
  }
  if (kind < 0 || payload === undefined || filled !== payload.byteLength) {
    throw new ProtocolError('stream ended before the whole message arrived')
  }
  return { kind: kind as MessageKind, data: payload }
}

/** Read the protocol name of a PROTOCOL header already at the start of `bytes`; keep what follows it. */
async function readProtocolName(
  stream: TransportStream,
  iterator: AsyncIterator<Uint8Array>,
  first: Uint8Array,
  length: number,
): Promise<ReadMessage> {
  if (length === 0 || length > MAX_PROTOCOL_NAME) {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
    throw new ProtocolError(`protocol name of ${length} bytes (1 to ${MAX_PROTOCOL_NAME} allowed)`)
  }
  let bytes = first.subarray(MESSAGE_HEADER_SIZE)
  while (bytes.byteLength < length) {
    const next = await iterator.next()
    if (next.done) throw new ProtocolError('stream ended inside a protocol name')
    bytes = Buffer.concat([bytes, next.value])
  }
  const leftover = bytes.byteLength > length ? bytes.subarray(length) : undefined
  return { kind: MessageKind.PROTOCOL, data: bytes.subarray(0, length), rest: { leftover, iterator } }
}

/** Translate a reset sent by the remote reader into the error the local writer should see. */
export function remoteResetError(error: unknown, size: number, limit: number): unknown {
  if (error instanceof StreamResetError && error.remote && error.resetCode === StreamResetCode.MESSAGE_TOO_LARGE) {
    return new MessageTooLargeError(`the receiver refused a message of ${size} bytes as too large`, size, limit)
  }
  return error
}
