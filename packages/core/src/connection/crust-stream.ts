/**
 * Application byte streams (`conn.openStream(protocol)`,
 * `node.handleStream(protocol, ...)`): a Node `Duplex` over one transport
 * stream, with the transport's flow control as its backpressure.
 *
 * Opening: the opener writes a {@link MessageKind.STREAM} header naming the
 * protocol and waits for the receiver's empty `ACK` header (one round trip),
 * so a protocol the receiver does not handle, or a stream over its limits,
 * fails on the opener at once with a typed error instead of at a timeout.
 *
 * @packageDocumentation
 */
import { Duplex } from 'node:stream'
import type { ReadableStream, WritableStream } from 'node:stream/web'
import { asError } from '../error-text.js'
import { AbortError, LimitExceededError, ProtocolError, ProtocolNotSupportedError, StreamResetError, TimeoutError } from '../errors.js'
import type { TransportStream } from '../transport/types.js'
import type { Connection } from './connection.js'
import { MESSAGE_HEADER_SIZE, MessageKind, checkMessageHeader, encodeMessage, encodeMessageHeader, messageLength } from './message-header.js'
import type { StreamRest } from './message-io.js'
import { StreamResetCode } from './stream-codes.js'

/** Options of `openStream`. */
export interface OpenStreamOptions {
  /** Cancel the opening; it rejects with `AbortError`. */
  signal?: AbortSignal
  /** Deadline for the peer to accept the stream (ms); defaults to the node's `connection.requestTimeout`. */
  timeout?: number
  /** Abort the stream (reset code `TIMEOUT`) when no byte moved either way for this long (ms); 0 (default) disables. */
  idleTimeout?: number
}

const noop = (): void => {}

/**
 * Bytes the readable side buffers before it stops pulling from the transport
 * (whose own window then stops the peer's writer), and the writable side's
 * buffer before `write()` returns false. Large enough for bulk throughput,
 * small enough that memory per stream stays bounded.
 */
const READ_HIGH_WATER = 256 * 1024
const WRITE_HIGH_WATER = 64 * 1024

/**
 * An application byte stream to one peer: a Node `Duplex` (pipe files into
 * it, `for await` over it). Writing waits for the peer's flow-control credit,
 * and reading only pulls from the transport as the application consumes, so
 * a slow reader slows the writer and memory stays bounded on both ends.
 *
 * `end()` half-closes: the peer reads to its end and may still write back;
 * `for await` over the stream reads to the peer's end and leaves the write
 * side open.
 * `abort(code)` resets both directions; the peer's reads and writes fail
 * with a `StreamResetError` carrying `code`. Destroying the stream before both
 * directions finished aborts it too. `toWeb()` gives the Web Streams pair.
 */
export class CrustStream extends Duplex {
  private leftover: Uint8Array | undefined
  private readonly source: AsyncIterator<Uint8Array>
  private pulling = false
  private wanted = false
  private readEnded = false
  private writeFinished = false
  private abortCode: number = StreamResetCode.CANCELLED
  private idleTimer: NodeJS.Timeout | undefined
  private activeAt = 0
  private released = false

  /** @internal Made by the core when a stream opens or is accepted. */
  constructor(
    /** The transport stream underneath. */
    private readonly transport: TransportStream,
    /** The application protocol, e.g. `/files/1`. */
    readonly protocol: string,
    /** The connection the stream belongs to. */
    readonly connection: Connection,
    rest: StreamRest | undefined,
    idleTimeout: number,
    private readonly onRelease?: () => void,
  ) {
    super({ readableHighWaterMark: READ_HIGH_WATER, writableHighWaterMark: WRITE_HIGH_WATER, allowHalfOpen: true })
    // A peer's reset must never crash the process through an unheard 'error': reads, writes,
    // `for await` and `pipeline` still see every failure.
    this.on('error', noop)
    this.leftover = rest?.leftover
    this.source = rest?.iterator ?? transport[Symbol.asyncIterator]()
    if (idleTimeout > 0) this.watchIdle(idleTimeout)
    // Read ahead (up to the high-water mark) from the start, so a peer's reset is seen, and the
    // stream's slot freed, even while the application is not reading.
    this.read(0)
  }

  /**
   * Iterating to the end leaves the write side open (a plain Node `Duplex`
   * would be destroyed), so a handler can read a whole request and then
   * answer on the same stream. Breaking out early leaves the stream open too;
   * `abort()` it when done with it.
   */
  override [Symbol.asyncIterator](): NodeJS.AsyncIterator<Uint8Array> {
    return this.iterator({ destroyOnReturn: false })
  }

  /** The authenticated peer at the other end. */
  get peerId(): string {
    return this.connection.peerId
  }

  /**
   * Reset both directions with `code` (default `StreamResetCode.CANCELLED`):
   * the peer's reads and writes fail with a `StreamResetError` carrying it.
   * Locally the stream is destroyed without an error.
   */
  abort(code: number = StreamResetCode.CANCELLED): void {
    this.abortCode = code
    this.destroy()
  }

  /** The stream as a Web Streams pair (`readable` of `Uint8Array` chunks, `writable` taking them). */
  toWeb(): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
    return Duplex.toWeb(this) as { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }
  }

  override _read(): void {
    this.wanted = true
    if (!this.pulling) void this.pull()
  }

  /** Pull chunks from the transport while the readable side wants more (see `_read`). */
  private async pull(): Promise<void> {
    this.pulling = true
    try {
      while (this.wanted) {
        this.wanted = false
        let chunk = this.leftover
        this.leftover = undefined
        if (chunk === undefined) {
          const next = await this.source.next()
          if (this.destroyed) return
          if (next.done) {
            this.readEnded = true
            this.push(null)
            return
          }
          chunk = next.value
        }
        if (this.idleTimer !== undefined) this.activeAt = performance.now()
        this.connection.stats.bytesReceived += chunk.byteLength
        if (this.push(chunk)) this.wanted = true
      }
    } catch (error) {
      if (!this.destroyed) this.destroy(asError(error))
    } finally {
      this.pulling = false
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.idleTimer !== undefined) this.activeAt = performance.now()
    this.connection.stats.bytesSent += chunk.byteLength
    this.transport.write(chunk).then(
      () => callback(),
      (error: unknown) => callback(asError(error)),
    )
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.transport.end().then(
      () => {
        this.writeFinished = true
        callback()
      },
      (error: unknown) => callback(asError(error)),
    )
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    // A stream left before both directions finished is reset, so neither side keeps state for it.
    if (!(this.readEnded && this.writeFinished)) this.transport.reset(error instanceof TimeoutError ? StreamResetCode.TIMEOUT : this.abortCode)
    this.release()
    callback(error)
  }

  private release(): void {
    if (this.released) return
    this.released = true
    this.onRelease?.()
  }

  /** Abort with `TIMEOUT` once no byte moved either way for `idleTimeout` ms; one timer, re-armed lazily. */
  private watchIdle(idleTimeout: number): void {
    this.activeAt = performance.now()
    const check = (): void => {
      const quiet = performance.now() - this.activeAt
      if (quiet >= idleTimeout) {
        this.idleTimer = undefined
        this.destroy(new TimeoutError(`${this.protocol} stream idle for ${idleTimeout} ms`))
        return
      }
      this.idleTimer = setTimeout(check, idleTimeout - quiet)
      this.idleTimer.unref()
    }
    this.idleTimer = setTimeout(check, idleTimeout)
    this.idleTimer.unref()
  }
}

/**
 * Opener side: name `protocol` on the new bidirectional `stream` and wait for
 * the peer to accept. Rejects with `ProtocolNotSupportedError`,
 * `LimitExceededError` (the peer's stream limits for that protocol),
 * `TimeoutError` or `AbortError`; the stream is reset on every failure.
 */
export async function openAppStream(
  stream: TransportStream,
  protocol: string,
  connection: Connection,
  options: OpenStreamOptions & { timeout: number },
  onRelease?: () => void,
): Promise<CrustStream> {
  let ended: 'timeout' | 'abort' | undefined
  const stop = (why: 'timeout' | 'abort'): void => {
    ended ??= why
    stream.reset(why === 'timeout' ? StreamResetCode.TIMEOUT : StreamResetCode.CANCELLED)
  }
  const timer = setTimeout(() => stop('timeout'), options.timeout)
  const onAbort = (): void => stop('abort')
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    if (options.signal?.aborted) stop('abort')
    await stream.write(encodeMessage(MessageKind.STREAM, Buffer.from(protocol, 'latin1')))
    const iterator = stream[Symbol.asyncIterator]()
    let have: Uint8Array = new Uint8Array(0)
    while (have.byteLength < MESSAGE_HEADER_SIZE) {
      const next = await iterator.next()
      if (next.done) throw new ProtocolError(`the peer ended the ${protocol} stream without accepting it`)
      have = have.byteLength === 0 ? next.value : Buffer.concat([have, next.value])
    }
    if (checkMessageHeader(have, 0) !== MessageKind.ACK || messageLength(have, 0) !== 0) {
      stream.reset(StreamResetCode.PROTOCOL_ERROR)
      throw new ProtocolError(`unexpected answer to opening a ${protocol} stream`)
    }
    const leftover = have.byteLength > MESSAGE_HEADER_SIZE ? have.subarray(MESSAGE_HEADER_SIZE) : undefined
    return new CrustStream(stream, protocol, connection, { leftover, iterator }, options.idleTimeout ?? 0, onRelease)
  } catch (error) {
    onRelease?.()
    stream.reset(StreamResetCode.CANCELLED)
    if (ended === 'abort') throw new AbortError()
    if (ended === 'timeout') throw new TimeoutError(`the peer did not accept the ${protocol} stream within ${options.timeout} ms`)
    throw openingError(error, protocol)
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/** The typed error for a refusal of a stream the peer was asked to open. */
function openingError(error: unknown, protocol: string): unknown {
  if (!(error instanceof StreamResetError) || !error.remote || error.closeInfo !== undefined) return error
  if (error.resetCode === StreamResetCode.PROTOCOL_NOT_SUPPORTED) return new ProtocolNotSupportedError(protocol)
  if (error.resetCode === StreamResetCode.LIMIT_EXCEEDED) {
    return new LimitExceededError(`the peer refused a ${protocol} stream: its stream limits for that protocol are reached (retry later)`, 'protocol.maxStreamsPerPeer')
  }
  return error
}

/**
 * Receiver side: accept a stream whose STREAM header was read (the `rest` of
 * it follows) and wrap it. The acceptance is queued before any byte the
 * handler writes.
 */
export function acceptAppStream(
  stream: TransportStream,
  protocol: string,
  connection: Connection,
  rest: StreamRest,
  idleTimeout: number,
  onRelease: () => void,
): CrustStream {
  // Failures surface on the stream's own reads and writes; nothing to add here.
  stream.write(encodeMessageHeader(MessageKind.ACK, 0)).catch(() => {})
  return new CrustStream(stream, protocol, connection, rest, idleTimeout, onRelease)
}
