import { Duplex } from 'node:stream'
import { asError } from '../error-text.js'
import { isCrustError } from '../errors.js'
import type { CloseInfo } from '../transport/types.js'

/** What {@link StreamDuplex} needs of a stream: a transport's `TransportStream` and a service's `ServiceStream` both are one. */
export interface DuplexableStream extends AsyncIterable<Uint8Array> {
  write(data: Uint8Array): Promise<void>
  end(): Promise<void>
  reset(code?: number): void
}

/**
 * A stream as a node `Duplex`, so a node stream stack can run over it
 * (node:tls over a relay's protocol stream, a `@crust/mux` muxer over a QUIC
 * stream). Reads follow the consumer (the next chunk is pulled only when
 * node asks for more), writes resolve when the stream has taken the data,
 * so the stream's flow control carries through. Destroying it resets the
 * stream unless both directions already finished. Its own `error` events
 * are swallowed: the layer on top reports failures, and a reset arriving
 * after that layer is gone must not go unhandled.
 */
export class StreamDuplex extends Duplex {
  /** The reset code the remote put on the stream, once reset. */
  remoteResetCode: number | undefined
  /** How the connection carrying the stream closed, when that is what failed the stream. */
  carrierClosed: CloseInfo | undefined
  private readonly chunks: AsyncIterator<Uint8Array>
  private pulling = false
  private wanted = false
  private readEnded = false
  private writeEnded = false

  constructor(private readonly stream: DuplexableStream) {
    super({ allowHalfOpen: true })
    this.chunks = stream[Symbol.asyncIterator]()
    this.on('error', () => {})
  }

  override _read(): void {
    this.wanted = true
    if (!this.pulling) this.pull()
  }

  /**
   * Ask the stream for its next chunk. A promise chain rather than an async
   * loop: an idle stream waits here for its whole life, and a suspended
   * async call keeps its frame (~0.4 KB for a message channel); nor does
   * anything hold the last chunk while it waits (a small chunk would pin
   * its 8 KiB slab of Node's Buffer pool for as long as the stream lives).
   */
  private pull(): void {
    this.pulling = true
    let next: Promise<IteratorResult<Uint8Array>>
    try {
      next = this.chunks.next()
    } catch (error) {
      this.pullFailed(error)
      return
    }
    next.then(this.pulled, this.pullFailed)
  }

  private readonly pulled = (next: IteratorResult<Uint8Array>): void => {
    if (next.done) {
      this.readEnded = true
      this.push(null)
      this.pulling = false
      return
    }
    this.wanted = this.push(next.value)
    if (this.wanted) this.pull()
    else this.pulling = false
  }

  private readonly pullFailed = (error: unknown): void => {
    if (isCrustError(error, 'ERR_STREAM_RESET')) {
      if (error.closeInfo !== undefined) this.carrierClosed = error.closeInfo
      else if (error.remote) this.remoteResetCode = error.resetCode
    }
    this.readEnded = true
    this.destroy(asError(error))
    this.pulling = false
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.stream.write(chunk).then(() => callback(), callback)
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    // TLS emits one write per record, a muxer one per frame: hand them to the stream as one.
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((entry) => entry.chunk))
    this.stream.write(data).then(() => callback(), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.writeEnded = true
    this.stream.end().then(() => callback(), callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!(this.readEnded && this.writeEnded)) this.stream.reset()
    callback(error)
  }
}
