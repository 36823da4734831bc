import { Duplex } from 'node:stream'
import type { TransportStream } from '@crust/core'
import { asError } from '@crust/core/plugin'

/**
 * A QUIC stream as a node `Duplex`, so a `@crust/mux` muxer can run over it
 * (the message channel, see `message-channel.ts`). Reads pull the next chunk
 * only when node asks for more; writes resolve when quiche took the bytes,
 * so QUIC's flow control carries through. Destroying it resets the stream
 * unless both directions already finished.
 */
export class StreamDuplex extends Duplex {
  private pulling = false
  private wanted = false
  private readEnded = false
  private writeEnded = false

  constructor(private readonly stream: TransportStream & AsyncIterator<Uint8Array>) {
    super({ allowHalfOpen: true })
    // The muxer on top reports failures; a reset arriving after it is gone must not go unhandled.
    this.on('error', () => {})
  }

  override _read(): void {
    this.wanted = true
    if (!this.pulling) void this.pull()
  }

  private async pull(): Promise<void> {
    this.pulling = true
    try {
      while (this.wanted) {
        const next = await this.stream.next()
        if (next.done) {
          this.readEnded = true
          this.push(null)
          return
        }
        this.wanted = this.push(next.value)
      }
    } catch (error) {
      this.readEnded = true
      this.destroy(asError(error))
    } finally {
      this.pulling = false
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.stream.write(chunk).then(() => callback(), callback)
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const data = chunks.length === 1 ? (chunks[0] as { chunk: Buffer }).chunk : Buffer.concat(chunks.map((entry) => entry.chunk))
    this.stream.write(data).then(() => callback(), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.writeEnded = true
    this.stream.end().then(() => callback(), callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!(this.readEnded && this.writeEnded)) this.stream.reset(0)
    callback(error)
  }
}
