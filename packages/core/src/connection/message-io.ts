import { errorMessage } from '../error-text.js'
import {
  DeliveryUnknownError,
  LimitExceededError,
  MessageTooLargeError,
  ProtocolError,
  ProtocolNotSupportedError,
  RemoteHandlerError,
  StreamResetError,
  TimeoutError,
} from '../errors.js'
import type { TransportStream } from '../transport/types.js'
import {
  MESSAGE_HEADER_SIZE,
  MessageKind,
  checkMessageHeader,
  encodeMessage,
  encodeMessageHeader,
  NAMED,
  messageLength,
} from './message-header.js'
import { CHUNK_OVERHEAD, type ConnectionBudget, type PendingMessage } from './message-budget.js'
import { MAX_APP_PROTOCOL_NAME } from './protocol-name.js'
import { ENVELOPE_SIZE } from './sequenced.js'
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

/** Write one whole message (after `prefix`, part of the payload, when given) and close the write side. */
export function writeMessage(stream: TransportStream, kind: MessageKind, payload: Uint8Array, prefix?: Uint8Array): Promise<void> {
  try {
    if (prefix !== undefined) {
      const length = prefix.byteLength + payload.byteLength
      if (length <= COPY_LIMIT) {
        const frame = encodeMessageHeader(kind, length, length)
        frame.set(prefix, MESSAGE_HEADER_SIZE)
        frame.set(payload, MESSAGE_HEADER_SIZE + prefix.byteLength)
        return stream.write(frame, END)
      }
      const head = encodeMessageHeader(kind, length, prefix.byteLength)
      head.set(prefix, MESSAGE_HEADER_SIZE)
      return stream.write(head).then(() => stream.write(payload, END))
    }
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
 *
 * Memory follows the bytes that arrived, never the length a header claims:
 * chunks are kept as they come until an eighth of the message is in, and only
 * then is the message's buffer allocated (so at most eight times what
 * arrived, within the budget; each byte is still copied once). With a `budget`, what an unfinished message
 * holds is charged to it and the message must keep progressing; overrunning
 * either resets the stream and rejects with the budget's typed error
 * (`LimitExceededError`, `TimeoutError`).
 */
export async function readMessage(stream: TransportStream, maxSize: number, budget?: ConnectionBudget): Promise<ReadMessage> {
  // Tracked from the start: a stream that never completes its header is an unfinished message too.
  const tracked = budget?.begin(stream)
  try {
    let pending: Uint8Array | undefined
    const iterator = stream[Symbol.asyncIterator]()
    let first: Uint8Array
    for (;;) {
      const next = await iterator.next()
      if (next.done) throw new ProtocolError('stream ended before the whole message arrived')
      tracked?.received(next.value.byteLength)
      first = pending === undefined ? next.value : Buffer.concat([pending, next.value])
      if (first.byteLength >= MESSAGE_HEADER_SIZE) break
      pending = first
    }
    const kind = checkMessageHeader(first, 0)
    const length = messageLength(first, 0)
    if (kind === MessageKind.PROTOCOL || kind === MessageKind.STREAM) return readProtocolName(stream, iterator, first, length, kind)
    // A peer-addressed message's envelope, a named message's protocol name do not count against the application's limit.
    const limit = kind === MessageKind.SEQ_SEND || kind === MessageKind.SEQ_REQUEST ? maxSize + ENVELOPE_SIZE : kind < NAMED ? maxSize : namedLimit(kind, maxSize)
    if (length > limit) {
      stream.reset(StreamResetCode.MESSAGE_TOO_LARGE)
      throw new MessageTooLargeError(`incoming message of ${length} bytes exceeds the limit of ${maxSize}`, length, maxSize)
    }
    if (tracked !== undefined) tracked.declared = length
    const head = first.byteLength - MESSAGE_HEADER_SIZE
    if (head > length) return overlong(stream)
    if (head === length) {
      // Fast path: the whole payload came with the header; keep it without copying (charged until the stream ends).
      tracked?.charge(first.byteLength + CHUNK_OVERHEAD)
      for (;;) {
        const next = await iterator.next()
        if (next.done) break
        if (next.value.byteLength > 0) overlong(stream)
      }
      return { kind, data: Buffer.from(first.buffer, first.byteOffset + MESSAGE_HEADER_SIZE, length) }
    }
    return { kind, data: await readPayload(stream, iterator, first.subarray(MESSAGE_HEADER_SIZE), length, tracked) }
  } catch (error) {
    throw tracked?.failure ?? error
  } finally {
    tracked?.end()
  }
}

/**
 * A payload's buffer is allocated once `1 / ALLOCATE_AFTER` of it has
 * arrived; until then its chunks are kept as they come. So memory stays
 * within this many times what arrived, whatever length the header claims
 * (and the budget is charged the whole length at allocation), while a large
 * message is not held as thousands of small chunks: over QUIC, whose chunks
 * are small, keeping chunks until half the message was in cost ~15 % of bulk
 * throughput in garbage collection, and growing a buffer by doubling cost as
 * much in copies and page faults.
 */
const ALLOCATE_AFTER = 8

/**
 * The rest of a payload of `length` bytes whose first `head` bytes came with
 * the header, then the end of the stream.
 */
async function readPayload(
  stream: TransportStream,
  iterator: AsyncIterator<Uint8Array>,
  head: Uint8Array,
  length: number,
  tracked: PendingMessage | undefined,
): Promise<Uint8Array> {
  // Until an eighth of the payload is in, keep the chunks; then allocate it whole (see ALLOCATE_AFTER).
  let chunks: Uint8Array[] | undefined = []
  let payload: Buffer | undefined
  let filled = 0
  const allocateAt = Math.floor(length / ALLOCATE_AFTER)
  let chunk = head
  for (;;) {
    const n = chunk.byteLength
    if (n > 0) {
      if (filled + n > length) return overlong(stream)
      if (chunks !== undefined) {
        if (filled + n < allocateAt) {
          tracked?.charge(n + CHUNK_OVERHEAD)
          chunks.push(chunk)
        } else {
          tracked?.charge(length - (tracked === undefined ? 0 : chargedFor(chunks, filled)))
          payload = Buffer.allocUnsafe(length)
          let at = 0
          for (const c of chunks) {
            payload.set(c, at)
            at += c.byteLength
          }
          chunks = undefined
          payload.set(chunk, filled)
        }
      } else {
        ;(payload as Buffer).set(chunk, filled)
      }
      filled += n
      if (filled === length) break
    }
    const next = await iterator.next()
    if (next.done) throw new ProtocolError('stream ended before the whole message arrived')
    chunk = next.value
    tracked?.received(chunk.byteLength)
  }
  await expectEnd(stream, iterator)
  return payload as Buffer
}

/** What the chunk list of `filled` bytes was charged. */
function chargedFor(chunks: Uint8Array[], filled: number): number {
  return filled + chunks.length * CHUNK_OVERHEAD
}

/** After a whole message, the stream must end. */
async function expectEnd(stream: TransportStream, iterator: AsyncIterator<Uint8Array>): Promise<void> {
  for (;;) {
    const next = await iterator.next()
    if (next.done) return
    if (next.value.byteLength > 0) overlong(stream)
  }
}

function overlong(stream: TransportStream): never {
  stream.reset(StreamResetCode.PROTOCOL_ERROR)
  throw new ProtocolError('stream carried more bytes than its message header announced')
}

/** Largest payload of a named kind: the data, its name prefix and, when sequenced, its envelope. */
function namedLimit(kind: MessageKind, maxSize: number): number {
  const sequenced = kind === MessageKind.SEQ_NAMED_SEND || kind === MessageKind.SEQ_NAMED_REQUEST
  return maxSize + 1 + MAX_APP_PROTOCOL_NAME + (sequenced ? ENVELOPE_SIZE : 0)
}

/** Read the protocol name of a PROTOCOL or STREAM header already at the start of `bytes`; keep what follows it. */
async function readProtocolName(
  stream: TransportStream,
  iterator: AsyncIterator<Uint8Array>,
  first: Uint8Array,
  length: number,
  kind: MessageKind,
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
  return { kind, data: bytes.subarray(0, length), rest: { leftover, iterator } }
}

/**
 * Translate a reset sent by the remote reader into the error the local writer
 * should see; `protocol` names the application protocol the message was for.
 */
export function remoteResetError(error: unknown, size: number, limit: number, protocol?: string): unknown {
  if (!(error instanceof StreamResetError) || !error.remote || error.closeInfo !== undefined) return error
  switch (error.resetCode) {
    case StreamResetCode.PROTOCOL_NOT_SUPPORTED:
      return new ProtocolNotSupportedError(protocol ?? '(none)')
    case StreamResetCode.MESSAGE_TOO_LARGE:
      return new MessageTooLargeError(`the receiver refused a message of ${size} bytes as too large`, size, limit)
    case StreamResetCode.LIMIT_EXCEEDED:
      return new LimitExceededError(
        `the receiver refused a message of ${size} bytes: its memory for partly received messages is used up (retry later)`,
        'receiver.maxPendingMessageBytes',
      )
    case StreamResetCode.TIMEOUT:
      return new TimeoutError(`the receiver gave up on a message of ${size} bytes: it did not arrive fast enough`)
    default:
      return error
  }
}

/**
 * Reset codes with which a receiver's core refuses a message it did not
 * deliver: a failure carrying one of these is known, not "unknown".
 */
const REFUSAL_CODES: ReadonlySet<number> = new Set([
  StreamResetCode.MESSAGE_TOO_LARGE,
  StreamResetCode.PROTOCOL_ERROR,
  StreamResetCode.TIMEOUT,
  StreamResetCode.REFUSED,
  StreamResetCode.LIMIT_EXCEEDED,
  StreamResetCode.PROTOCOL_NOT_SUPPORTED,
])

/**
 * The error for a `send` or `request` that failed after its message was
 * handed to the transport: the receiver's typed refusal when it refused the
 * message, the remote handler's failure, or else {@link DeliveryUnknownError}
 * (the connection or stream failed before the acknowledgement or answer, so
 * the peer may or may not have the message).
 */
export function failureAfterHandover(error: unknown, operation: 'send' | 'request', size: number, limit: number, protocol?: string): unknown {
  if (error instanceof RemoteHandlerError || error instanceof DeliveryUnknownError) return error
  if (error instanceof StreamResetError && error.remote && error.closeInfo === undefined && error.resetCode === StreamResetCode.ANSWER_LOST) {
    return new DeliveryUnknownError(
      'the peer handled this request once already (an earlier copy), and its answer was not kept; it is not run twice',
      { cause: error },
    )
  }
  // A stream failed because its connection closed carries the close (`closeInfo`): not a refusal, whatever its code.
  if (error instanceof StreamResetError && error.remote && error.closeInfo === undefined && REFUSAL_CODES.has(error.resetCode)) {
    return remoteResetError(error, size, limit, protocol)
  }
  return new DeliveryUnknownError(
    `${operation} of ${size} bytes: ${errorMessage(error)} before the peer ${operation === 'send' ? 'acknowledged' : 'answered'} it; it may or may not have arrived`,
    { cause: error },
  )
}
