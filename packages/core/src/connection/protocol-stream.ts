import { MessageTooLargeError, ProtocolError } from '../errors.js'
import type { TransportStream } from '../transport/types.js'
import { MessageKind, encodeMessage } from './message-header.js'
import { MAX_PROTOCOL_NAME, type StreamRest } from './message-io.js'
import { StreamResetCode } from './stream-codes.js'

/** Length prefix of a {@link ProtocolStream} frame. */
const FRAME_PREFIX = 4

/**
 * A bidirectional stream that belongs to a service protocol (hole-punch
 * rendezvous, relay, ping...) rather than carrying one user message. It offers
 * length-prefixed frames for control messages and raw bytes for piping.
 */
export class ProtocolStream implements AsyncIterable<Uint8Array> {
  private buffered: Uint8Array | undefined
  private readonly iterator: AsyncIterator<Uint8Array>

  /** @internal Made by the core when a protocol stream opens. */
  constructor(
    /** The protocol name, e.g. `/crust/relay/1`. */
    readonly protocol: string,
    /** The underlying stream (for `reset` and raw access). */
    readonly stream: TransportStream,
    rest?: StreamRest,
  ) {
    this.buffered = rest?.leftover
    this.iterator = rest?.iterator ?? stream[Symbol.asyncIterator]()
  }

  /** Write raw bytes. */
  write(data: Uint8Array, options?: { end?: boolean }): Promise<void> {
    return this.stream.write(data, options)
  }

  /** Half-close our side. */
  end(): Promise<void> {
    return this.stream.end()
  }

  /** Abort both directions. */
  reset(code: number = StreamResetCode.CANCELLED): void {
    this.stream.reset(code)
  }

  /** Write one length-prefixed frame. */
  writeFrame(data: Uint8Array, options?: { end?: boolean }): Promise<void> {
    const frame = Buffer.allocUnsafe(FRAME_PREFIX + data.byteLength)
    frame.writeUInt32BE(data.byteLength, 0)
    frame.set(data, FRAME_PREFIX)
    return this.stream.write(frame, options)
  }

  /**
   * Read one length-prefixed frame of at most `maxSize` bytes; `undefined` at
   * the end of the stream. A larger frame resets the stream and throws
   * `MessageTooLargeError` before buffering it.
   */
  async readFrame(maxSize: number): Promise<Uint8Array | undefined> {
    const prefix = await this.readExactly(FRAME_PREFIX, true)
    if (prefix === undefined) return undefined
    const length = Buffer.from(prefix.buffer, prefix.byteOffset, FRAME_PREFIX).readUInt32BE(0)
    if (length > maxSize) {
      this.stream.reset(StreamResetCode.MESSAGE_TOO_LARGE)
      throw new MessageTooLargeError(`protocol frame of ${length} bytes exceeds the limit of ${maxSize}`, length, maxSize)
    }
    const body = await this.readExactly(length, false)
    return body ?? new Uint8Array(0)
  }

  /** Raw bytes not yet read as frames, then the rest of the stream. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.buffered !== undefined && this.buffered.byteLength > 0) {
      const first = this.buffered
      this.buffered = undefined
      yield first
    }
    for (;;) {
      const next = await this.iterator.next()
      if (next.done) return
      yield next.value
    }
  }

  private async readExactly(length: number, endAllowed: boolean): Promise<Uint8Array | undefined> {
    let have = this.buffered ?? new Uint8Array(0)
    while (have.byteLength < length) {
      const next = await this.iterator.next()
      if (next.done) {
        if (endAllowed && have.byteLength === 0) return undefined
        throw new ProtocolError(`${this.protocol}: stream ended inside a frame`)
      }
      have = have.byteLength === 0 ? next.value : Buffer.concat([have, next.value])
    }
    this.buffered = have.byteLength > length ? have.subarray(length) : undefined
    return have.subarray(0, length)
  }
}

/** Open a protocol stream on `open()`'s new bidirectional stream by naming the protocol. */
export async function startProtocolStream(stream: TransportStream, protocol: string): Promise<ProtocolStream> {
  const name = Buffer.from(protocol, 'utf8')
  if (name.byteLength === 0 || name.byteLength > MAX_PROTOCOL_NAME) {
    stream.reset(StreamResetCode.CANCELLED)
    throw new RangeError(`protocol name must be 1 to ${MAX_PROTOCOL_NAME} bytes`)
  }
  await stream.write(encodeMessage(MessageKind.PROTOCOL, name))
  return new ProtocolStream(protocol, stream)
}
