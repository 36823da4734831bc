import { type Direction, StreamResetError, StreamStateError, type TransportStream } from '@crust/core'
import { type QUICStream, errors, events } from '@crust/quic-lib'
import { asStreamError } from './stream-errors.js'

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })
type ReadResult = Awaited<ReturnType<QUICStream['directRead']>>
/** One byte per stream kind, written ahead of a stream's first write. */
const KIND_BYTES: readonly Uint8Array[] = [Uint8Array.of(0), Uint8Array.of(1)]

/**
 * One QUIC stream as the contract's {@link TransportStream}. Bidirectional
 * and unidirectional QUIC streams map one to one. The library's stream is a
 * direct one (`directStreams`, no Web Streams): reads take bytes out of
 * quiche only when asked (one chunk ahead), so flow-control credit returns to
 * the sender as the application consumes. Writes resolve once quiche accepted
 * the bytes into its send buffer.
 */
export class QuicStream implements TransportStream, AsyncIterator<Uint8Array> {
  readonly id: number
  readonly direction: Direction
  readonly bidirectional: boolean
  private ended = false
  private readDone = false
  private resetError: StreamResetError | undefined
  /** The kind byte still to go out ahead of the first write (see `StreamKind`). */
  private prefix: Uint8Array | undefined
  /** Bytes of the first chunk read after the kind byte, returned by the next read. */
  private rest: Uint8Array | undefined

  /**
   * @param writes - counts this stream's writes not yet accepted by quiche,
   *   shared by the connection's streams (a graceful close waits for them).
   * @param kind - a stream we open that says what it is: this byte goes out
   *   ahead of the first write (or with the FIN of an empty stream).
   */
  constructor(
    private readonly stream: QUICStream,
    private readonly writes: { pending: number } = { pending: 0 },
    kind?: number,
  ) {
    if (kind !== undefined) this.prefix = KIND_BYTES[kind]
    stream.addEventListener(events.EventQUICStreamError.name, this.onStreamError)
    this.id = stream.streamId
    this.direction = stream.initiated === 'local' ? 'outbound' : 'inbound'
    this.bidirectional = stream.type === 'bidi'
    if (!this.bidirectional) {
      // The opener of a unidirectional stream never reads, its acceptor never writes.
      if (this.direction === 'outbound') this.readDone = true
      else this.ended = true
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this
  }

  /**
   * Next chunk; `done` after the peer's FIN; rejects with `StreamResetError`
   * after a reset. A promise chain rather than an async function: a message
   * channel's stream waits here for the connection's life, and a suspended
   * async call keeps its frame.
   */
  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.resetError) return Promise.reject(this.resetError)
    const rest = this.rest
    if (rest !== undefined) {
      this.rest = undefined
      return Promise.resolve({ done: false, value: rest })
    }
    if (this.readDone) return Promise.resolve(DONE)
    return this.stream.directRead().then(this.onRead, this.onReadError)
  }

  private readonly onRead = (result: ReadResult): IteratorResult<Uint8Array> => {
    if (result.done) {
      this.readDone = true
      return DONE
    }
    return { done: false, value: result.value }
  }

  private readonly onReadError = (error: unknown): never => {
    this.readDone = true
    throw asStreamError(error, this.id)
  }

  /**
   * Read the kind byte the peer's stream starts with (see `StreamKind`);
   * what follows it in the same chunk is kept for the next read. Resolves
   * `undefined` if the stream ended, was reset or failed first.
   */
  async readKind(): Promise<number | undefined> {
    for (;;) {
      let result: IteratorResult<Uint8Array>
      try {
        result = await this.next()
      } catch {
        return undefined
      }
      if (result.done) return undefined
      const chunk = result.value
      if (chunk.byteLength === 0) continue
      if (chunk.byteLength > 1) this.rest = chunk.subarray(1)
      return chunk[0]
    }
  }

  /** The reader stopped early: tell the peer to stop sending (STOP_SENDING, code 0). */
  async return(): Promise<IteratorResult<Uint8Array>> {
    this.rest = undefined
    if (!this.readDone) {
      this.readDone = true
      await this.stream.directCancel(new StreamResetError(`Stream ${this.id}: reader stopped`, 0, false)).catch(() => {})
    }
    return DONE
  }

  write(data: Uint8Array, options?: { end?: boolean }): Promise<void> {
    if (this.resetError) return Promise.reject(this.resetError)
    if (this.ended) {
      const message =
        !this.bidirectional && this.direction === 'inbound' ? 'The acceptor of a unidirectional stream cannot write' : 'Write after end'
      return Promise.reject(new StreamStateError(message))
    }
    const end = options?.end === true
    if (end) this.ended = true
    return this.send(data, end)
  }

  end(): Promise<void> {
    if (this.ended) return Promise.resolve()
    this.ended = true
    return this.send(undefined, true)
  }

  reset(code = 0): void {
    if (this.resetError) return
    this.ended = true
    this.readDone = true
    this.resetError = new StreamResetError(`Stream ${this.id} reset locally (code ${code})`, code, false)
    // RESET_STREAM and STOP_SENDING carrying `code`; pending reads and writes fail with this error.
    try {
      this.stream.cancel(this.resetError)
    } catch {
      // Already closed in quiche: nothing left to reset.
    }
  }

  /**
   * The peer reset the stream (RESET_STREAM) or stopped reading it
   * (STOP_SENDING): a reset closes both directions, so our writes fail with
   * its code too, including one already waiting for flow-control credit
   * (quiche may have dropped the stream, and would never grant any).
   */
  private readonly onStreamError = (event: Event): void => {
    const detail = (event as events.EventQUICStreamError).detail
    if (!(detail instanceof errors.ErrorQUICStreamPeerRead || detail instanceof errors.ErrorQUICStreamPeerWrite)) return
    if (this.resetError) return
    const cause = detail.cause
    const code = cause instanceof StreamResetError ? cause.resetCode : 0
    this.resetError = new StreamResetError(`Stream ${this.id} reset by the remote peer (code ${code})`, code, true)
    this.ended = true
    try {
      this.stream.cancel(this.resetError)
    } catch {
      // Already closed in quiche.
    }
  }

  private async send(data: Uint8Array | undefined, end: boolean): Promise<void> {
    this.writes.pending++
    try {
      let chunk = data !== undefined && data.byteLength > 0 ? data : undefined
      const prefix = this.prefix
      if (prefix !== undefined) {
        // One chunk, so the kind byte and the data leave in the same packet: the library sends the
        // first write of a job at once.
        this.prefix = undefined
        chunk = chunk === undefined ? prefix : Buffer.concat([prefix, chunk])
      }
      // The last chunk carries the FIN (`finWith`), so the data and the end leave together.
      if (end && chunk !== undefined) this.stream.finWith = chunk
      const written = chunk !== undefined ? this.stream.directWrite(chunk) : undefined
      const closed = end ? this.stream.directClose() : undefined
      written?.catch(() => {})
      closed?.catch(() => {})
      await written
      await closed
    } catch (error) {
      throw asStreamError(error, this.id)
    } finally {
      this.writes.pending--
    }
  }
}
