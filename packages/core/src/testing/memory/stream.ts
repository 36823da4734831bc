import { StreamResetError, StreamStateError } from '../../errors.js'
import type { Direction, TransportStream } from '../../transport/types.js'

/**
 * Bytes a reader may hold unread before its writer waits: the per-stream
 * flow-control window. Credit returns only as the application reads.
 */
export const STREAM_WINDOW = 256 * 1024

/** One direction of a stream: the reader's buffer, filled by the remote's writes. */
class Channel {
  readonly chunks: Uint8Array[] = []
  buffered = 0
  /** The writer sent its FIN. */
  ended = false
  /** The reader has consumed the FIN. */
  finished = false
  /** Set once the channel can carry nothing more: every read and write fails with it. */
  failure: Error | undefined
  private readers: Array<() => void> = []
  private writers: Array<() => void> = []

  /** Wake everyone waiting on this channel; they re-check its state. */
  wake(): void {
    for (const wake of this.readers.splice(0)) wake()
    for (const wake of this.writers.splice(0)) wake()
  }

  readable(): Promise<void> {
    return new Promise((resolve) => this.readers.push(resolve))
  }

  writable(): Promise<void> {
    return new Promise((resolve) => this.writers.push(resolve))
  }
}

/** What a stream end needs from its connection: activity and end-of-life reports. */
export interface StreamOwner {
  /** The remote end did something (data, FIN, reset): resets the idle clock. */
  touched(): void
  /** Both directions of this stream are done (or it was reset): it no longer counts against the stream limit. */
  streamDone(stream: MemoryStream): void
}

/**
 * One end of an in-memory stream. Writes land in the remote end's buffer of
 * at most {@link STREAM_WINDOW} unread bytes, so a writer to a reader that
 * does not read waits; `end()` is a FIN after the data; `reset()` fails both
 * ends at once.
 */
export class MemoryStream implements TransportStream {
  /** Set by {@link MemoryStream.pair}. */
  private remote!: MemoryStream
  /** What the remote writes and this end reads. */
  private readonly incoming = new Channel()
  private writeClosed: boolean
  private done = false
  /** Set by a reset: this end's writes fail with its own view of it (the shared channel holds the reader's). */
  private writeFailure: Error | undefined

  private constructor(
    readonly id: number,
    readonly direction: Direction,
    readonly bidirectional: boolean,
    private readonly owner: StreamOwner,
  ) {
    // The acceptor of a unidirectional stream never writes; its opener never reads.
    this.writeClosed = !bidirectional && direction === 'inbound'
    if (!bidirectional && direction === 'outbound') {
      this.incoming.ended = true
      this.incoming.finished = true
    }
  }

  /** Both ends of a new stream: the opener's (`outbound`) and the acceptor's (`inbound`). */
  static pair(id: number, bidirectional: boolean, opener: StreamOwner, acceptor: StreamOwner): [MemoryStream, MemoryStream] {
    const local = new MemoryStream(id, 'outbound', bidirectional, opener)
    const remote = new MemoryStream(id, 'inbound', bidirectional, acceptor)
    local.remote = remote
    remote.remote = local
    return [local, remote]
  }

  async write(data: Uint8Array, options: { end?: boolean } = {}): Promise<void> {
    const target = this.remote.incoming
    if (this.writeFailure) throw this.writeFailure
    if (target.failure) throw target.failure
    if (this.writeClosed) throw new StreamStateError(`stream ${this.id} is not writable (ended, or the accepting end of a unidirectional stream)`)
    let offset = 0
    while (offset < data.length) {
      if (this.writeFailure) throw this.writeFailure
      if (target.failure) throw target.failure
      const room = STREAM_WINDOW - target.buffered
      if (room <= 0) {
        await target.writable()
        continue
      }
      const piece = data.subarray(offset, offset + room)
      offset += piece.length
      // A copy: the caller may reuse its buffer once the write resolved, as with a socket.
      target.chunks.push(Uint8Array.prototype.slice.call(piece))
      target.buffered += piece.length
      this.remote.owner.touched()
      target.wake()
    }
    if (options.end === true) await this.end()
  }

  async end(): Promise<void> {
    const target = this.remote.incoming
    if (this.writeFailure) throw this.writeFailure
    if (target.failure) throw target.failure
    if (this.writeClosed) return
    this.writeClosed = true
    target.ended = true
    this.remote.owner.touched()
    target.wake()
    this.settle()
  }

  reset(code = 0): void {
    if (this.done) return
    // Each end fails with its own view of the reset: this side's reads and writes say `local`, the remote's `remote`.
    const local = new StreamResetError(`stream ${this.id} was reset by this side (code ${code})`, code, false)
    const remote = new StreamResetError(`stream ${this.id} was reset by the remote (code ${code})`, code, true)
    this.writeFailure ??= local
    this.remote.writeFailure ??= remote
    this.incoming.failure ??= local
    this.remote.incoming.failure ??= remote
    this.fail(local, true)
    this.remote.fail(remote, true)
    this.remote.owner.touched()
  }

  /**
   * Fail this end: pending and later writes reject with `error`, and so do
   * reads, except (unless `discard`, as a reset does) that data the remote
   * already ended with stays readable, as it would in a socket's buffer.
   */
  fail(error: Error, discard = false): void {
    const outgoing = this.remote.incoming
    outgoing.failure ??= error
    outgoing.wake()
    if (discard || !this.incoming.ended) {
      this.incoming.failure ??= error
      this.incoming.wake()
    }
    this.writeClosed = true
    this.markDone()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    const channel = this.incoming
    for (;;) {
      if (channel.failure) throw channel.failure
      const chunk = channel.chunks.shift()
      if (chunk !== undefined) {
        channel.buffered -= chunk.length
        channel.wake() // credit back to the writer
        yield chunk
        continue
      }
      if (channel.ended) {
        channel.finished = true
        this.settle()
        return
      }
      await channel.readable()
    }
  }

  /** Both ends wrote their FIN and read the other's: the stream no longer counts against the limit. */
  private settle(): void {
    const { remote } = this
    if (this.writeClosed && this.incoming.finished && remote.writeClosed && remote.incoming.finished) {
      this.markDone()
      remote.markDone()
    }
  }

  private markDone(): void {
    if (this.done) return
    this.done = true
    this.owner.streamDone(this)
  }
}
