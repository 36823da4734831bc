import { type Direction, ProtocolError, StreamResetError, StreamStateError, type TransportStream } from '@crust/core'
import { creditDue } from './flow-control.js'
import { Flag, INITIAL_WINDOW, MAX_WRITE_FRAME } from './frame.js'

/**
 * What a stream needs from its muxer. An interface rather than the Muxer
 * class keeps the dependency one-way and the stream testable on its own.
 * @internal
 */
export interface StreamHost {
  /** Queue a DATA frame (adds SYN/UNI to the stream's first frame). */
  sendData(stream: MuxStream, payload: Uint8Array, flags: number): void
  /** Queue an RST frame carrying `code`. */
  sendReset(stream: MuxStream, code: number): void
  /** Queue a WINDOW_UPDATE granting `delta` bytes. */
  sendWindowUpdate(stream: MuxStream, delta: number): void
  /** False while the socket's write buffer is full. */
  readonly writable: boolean
  /** Resolves on the socket's 'drain'; rejects when the connection closes. */
  whenWritable(): Promise<void>
  /** Resolves once every frame queued so far was handed to the socket. */
  whenFlushed(): Promise<void>
  /** Both directions of `stream` are done: forget it. */
  streamDone(stream: MuxStream): void
  /** Largest receive window a stream may grow to. */
  readonly maxWindow: number
  /** Grow the window when half of it is consumed faster than this (ms). */
  readonly growInterval: number
}

// State bits, one number per stream instead of a field per flag.
const SYN_SENT = 1 // our first frame (carrying SYN) is queued; always set on inbound streams
const END_REQUESTED = 2 // write({end}) or end() was called: later writes are refused
const FIN_SENT = 4 // our FIN (or RST) is queued: the write half is done
const FIN_RECEIVED = 8 // the peer's FIN arrived
const READ_DONE = 16 // the application saw the end, or the read half was discarded/never existed
const DISCARD = 32 // the reader stopped iterating: drop incoming data, returning credit at once
const CLOSED = 64 // removed from the muxer (finished, reset, or connection closed)
const WRITING = 128 // a write is in progress; later writes queue behind it

const EMPTY = new Uint8Array(0)
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })
const RESOLVED = Promise.resolve()

/**
 * One multiplexed stream. Reads are by async iteration (one iteration at a
 * time); credit returns to the sender only as chunks are consumed. Writes
 * resolve once the data is handed to the socket, after waiting for the send
 * window, so awaiting each write bounds memory.
 */
export class MuxStream implements TransportStream, AsyncIterator<Uint8Array> {
  private state: number
  /** Bytes we may still send (the peer's credit). */
  private sendWindow = INITIAL_WINDOW
  /** Bytes the peer may still send under credit we granted. @internal */ recvCredit = INITIAL_WINDOW
  private window: number
  private buffered = 0
  private lastUpdate: number
  private chunks: Uint8Array[] | undefined
  private head = 0
  private error: Error | undefined
  private readResolve: ((result: IteratorResult<Uint8Array>) => void) | undefined
  private readReject: ((error: Error) => void) | undefined
  private creditResolve: (() => void) | undefined
  private creditReject: ((error: Error) => void) | undefined
  private writeQueue: Array<() => void> | undefined

  /** @internal */
  constructor(
    private readonly host: StreamHost,
    /** Stream id, unique within its connection. */
    readonly id: number,
    /** `outbound` when this side opened the stream. */
    readonly direction: Direction,
    /** False for unidirectional streams. */
    readonly bidirectional: boolean,
    window: number,
    now: number,
  ) {
    this.window = window
    this.lastUpdate = now
    let state = direction === 'inbound' ? SYN_SENT : 0
    if (!bidirectional) {
      // The opener never reads, the acceptor never writes.
      state |= direction === 'outbound' ? READ_DONE : END_REQUESTED | FIN_SENT
    }
    this.state = state
  }

  /** Bytes received and not yet consumed by the application (bounded by the receive window). */
  get bufferedBytes(): number {
    return this.buffered
  }

  /** Current receive window in bytes (grows up to the muxer's `maxWindow` for fast readers). */
  get receiveWindow(): number {
    return this.window
  }

  /** True once both directions are done and the stream left its muxer. */
  get isClosed(): boolean {
    return (this.state & CLOSED) !== 0
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this
  }

  /** Next chunk; `done` after the peer's FIN; rejects with `StreamResetError` after a reset. */
  next(): Promise<IteratorResult<Uint8Array>> {
    const chunks = this.chunks
    if (chunks !== undefined && this.head < chunks.length) {
      const chunk = chunks[this.head] as Uint8Array
      chunks[this.head++] = EMPTY // release the reference now, not at compaction
      if (this.head === chunks.length) {
        chunks.length = 0
        this.head = 0
      }
      this.consumed(chunk.length)
      return Promise.resolve({ done: false, value: chunk })
    }
    const state = this.state
    if ((state & FIN_RECEIVED) !== 0) {
      this.readFinished()
      return Promise.resolve(DONE)
    }
    if (this.error !== undefined) return Promise.reject(this.error)
    if ((state & (READ_DONE | DISCARD)) !== 0) return Promise.resolve(DONE)
    if (this.readResolve !== undefined) return Promise.reject(new StreamStateError('Concurrent reads on one stream'))
    return new Promise((resolve, reject) => {
      this.readResolve = resolve
      this.readReject = reject
    })
  }

  /**
   * The reader stopped early (`break`). Buffered data is dropped and its
   * credit returned. If the peer has not finished sending: while we may still
   * write, later data is discarded (so a request handler can stop reading and
   * still answer); otherwise the stream is reset so the peer stops sending.
   */
  return(): Promise<IteratorResult<Uint8Array>> {
    if ((this.state & (READ_DONE | CLOSED)) === 0) {
      this.dropBuffer()
      if ((this.state & FIN_RECEIVED) !== 0) this.readFinished()
      else if ((this.state & FIN_SENT) === 0) this.state |= DISCARD
      else this.reset(0)
    }
    return Promise.resolve(DONE)
  }

  /**
   * Send `data`, split into frames of at most 64 KiB as the send window allows.
   * Resolves once all of it is handed to the socket. With `end: true` the last
   * frame carries FIN (a small whole message is one SYN|FIN frame).
   * Rejects with `StreamResetError` after a reset or connection close, and with
   * `StreamStateError` after `end()` or on the acceptor side of a unidirectional stream.
   */
  write(data: Uint8Array, options?: { end?: boolean }): Promise<void> {
    const end = options?.end === true
    if (this.error !== undefined) return Promise.reject(this.error)
    if ((this.state & END_REQUESTED) !== 0) {
      const message =
        !this.bidirectional && this.direction === 'inbound'
          ? 'The acceptor of a unidirectional stream cannot write'
          : 'Write after end'
      return Promise.reject(new StreamStateError(message))
    }
    if (end) this.state |= END_REQUESTED
    else if (data.length === 0) return RESOLVED
    const n = data.length
    const host = this.host
    if ((this.state & WRITING) === 0 && host.writable && n <= MAX_WRITE_FRAME && (n <= this.sendWindow || n === 0)) {
      // Fast path: one frame that may go at once (no write in progress, credit, room in the socket).
      host.sendData(this, data, end ? Flag.FIN : 0)
      this.sendWindow -= n
      if (end) {
        this.state |= FIN_SENT
        this.maybeDone()
      }
      return host.whenFlushed().then(undefined, (error: unknown) => {
        throw this.error ?? error
      })
    }
    return this.send(data, end)
  }

  /** Half-close: the peer's reader sees the end after all data. Idempotent. */
  end(): Promise<void> {
    if ((this.state & END_REQUESTED) !== 0) return RESOLVED
    return this.write(EMPTY, { end: true })
  }

  /** Close both directions abruptly; the peer's reads and writes fail with `code`. No-op once closed. */
  reset(code = 0): void {
    if ((this.state & CLOSED) !== 0) return
    this.host.sendReset(this, code >>> 0)
    this.terminate(new StreamResetError(`Stream ${this.id} reset locally (code ${code})`, code, false))
    this.host.streamDone(this)
  }

  private async send(data: Uint8Array, end: boolean): Promise<void> {
    // One write at a time, in call order; the turn is handed over directly
    // (WRITING stays set) so a newer write can never slip in between.
    if ((this.state & WRITING) !== 0) await this.waitTurn()
    else this.state |= WRITING
    try {
      const host = this.host
      const length = data.length
      let offset = 0
      for (;;) {
        if (this.error !== undefined) throw this.error
        if (!host.writable) {
          // The socket's buffer is full: queue nothing more until 'drain'.
          await host.whenWritable()
          continue
        }
        let n = length - offset
        if (n > 0) {
          if (this.sendWindow <= 0) {
            await this.waitCredit()
            continue
          }
          n = Math.min(n, this.sendWindow, MAX_WRITE_FRAME)
        }
        const last = offset + n === length
        const fin = last && end
        host.sendData(this, n === length ? data : data.subarray(offset, offset + n), fin ? Flag.FIN : 0)
        this.sendWindow -= n
        offset += n
        if (fin) {
          this.state |= FIN_SENT
          this.maybeDone()
        }
        if (last) break
      }
      await host.whenFlushed()
    } catch (error) {
      throw this.error ?? error
    } finally {
      const next = this.writeQueue?.shift()
      if (next !== undefined) next()
      else this.state &= ~WRITING
    }
  }

  private waitTurn(): Promise<void> {
    return new Promise((resolve) => {
      if (this.writeQueue === undefined) this.writeQueue = []
      this.writeQueue.push(resolve)
    })
  }

  private waitCredit(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.creditResolve = resolve
      this.creditReject = reject
    })
  }

  /** Account for `n` bytes the application consumed or dropped; grant credit when due. */
  private consumed(n: number): void {
    this.buffered -= n
    // After the peer's FIN no more data comes, so no credit is needed.
    if ((this.state & (FIN_RECEIVED | CLOSED)) !== 0) return
    let due = creditDue(this.window, this.buffered, this.recvCredit)
    if (due === 0) return
    const host = this.host
    const now = performance.now()
    if (this.window < host.maxWindow && now - this.lastUpdate < host.growInterval && (this.state & DISCARD) === 0) {
      // Half a window drained this fast: the window, not the reader, limits throughput.
      const grown = Math.min(this.window * 2, host.maxWindow)
      due += grown - this.window
      this.window = grown
    }
    this.lastUpdate = now
    this.recvCredit += due
    host.sendWindowUpdate(this, due)
  }

  private dropBuffer(): void {
    const n = this.buffered
    this.chunks = undefined
    this.head = 0
    if (n > 0) this.consumed(n)
  }

  private readFinished(): void {
    if ((this.state & READ_DONE) !== 0) return
    this.state |= READ_DONE
    this.maybeDone()
  }

  private maybeDone(): void {
    if ((this.state & (READ_DONE | FIN_SENT | CLOSED)) === (READ_DONE | FIN_SENT)) this.host.streamDone(this)
  }

  /** Mark closed, drop unread data and fail every waiter with `error`. */
  private terminate(error: Error): void {
    this.state = (this.state | CLOSED | READ_DONE | FIN_SENT | END_REQUESTED) & ~FIN_RECEIVED
    this.error = error
    this.chunks = undefined
    this.buffered = 0
    this.rejectWaiters(error)
  }

  private rejectWaiters(error: Error): void {
    const readReject = this.readReject
    if (readReject !== undefined) {
      this.readResolve = undefined
      this.readReject = undefined
      readReject(error)
    }
    const creditReject = this.creditReject
    if (creditReject !== undefined) {
      this.creditResolve = undefined
      this.creditReject = undefined
      creditReject(error)
    }
  }

  // ---- Called by the muxer for incoming frames. ----

  /** Our first frame is queued. @internal */
  get synSent(): boolean {
    return (this.state & SYN_SENT) !== 0
  }

  /** @internal */
  markSynSent(): void {
    this.state |= SYN_SENT
  }

  /**
   * Check an incoming DATA frame of `n` payload bytes as a whole, before its
   * pieces are delivered: throws ProtocolError for data the peer had no right
   * to send. @internal
   */
  checkData(n: number): void {
    if ((this.state & FIN_RECEIVED) !== 0) throw new ProtocolError(`DATA after FIN on stream ${this.id}`)
    if (!this.bidirectional && this.direction === 'outbound') {
      throw new ProtocolError(`DATA from the acceptor of unidirectional stream ${this.id}`)
    }
    if (n > this.recvCredit) {
      throw new ProtocolError(`${n} bytes exceed the receive window (${this.recvCredit}) of stream ${this.id}`)
    }
  }

  /**
   * Incoming DATA payload (a whole frame's, or a piece of one). Throws
   * ProtocolError for data the peer had no right to send. @internal
   */
  onData(payload: Uint8Array): void {
    const n = payload.length
    const state = this.state
    this.checkData(n)
    if (n === 0) return
    this.recvCredit -= n
    this.buffered += n
    if ((state & (DISCARD | READ_DONE)) !== 0) {
      this.consumed(n)
      return
    }
    const resolve = this.readResolve
    if (resolve !== undefined) {
      // A reader is waiting: hand the chunk over without buffering it.
      this.readResolve = undefined
      this.readReject = undefined
      this.consumed(n)
      resolve({ done: false, value: payload })
      return
    }
    if (this.chunks === undefined) this.chunks = [payload]
    else this.chunks.push(payload)
  }

  /** Incoming FIN. @internal */
  onFin(): void {
    if ((this.state & FIN_RECEIVED) !== 0) throw new ProtocolError(`Duplicate FIN on stream ${this.id}`)
    if (!this.bidirectional && this.direction === 'outbound') {
      throw new ProtocolError(`FIN from the acceptor of unidirectional stream ${this.id}`)
    }
    this.state |= FIN_RECEIVED
    if ((this.state & DISCARD) !== 0) {
      this.readFinished()
      return
    }
    const resolve = this.readResolve
    if (resolve !== undefined) {
      this.readResolve = undefined
      this.readReject = undefined
      this.readFinished()
      resolve(DONE)
    }
  }

  /** Incoming WINDOW_UPDATE. @internal */
  onWindowUpdate(delta: number): void {
    this.sendWindow += delta
    const resolve = this.creditResolve
    if (resolve !== undefined && this.sendWindow > 0) {
      this.creditResolve = undefined
      this.creditReject = undefined
      resolve()
    }
  }

  /** The peer reset the stream. @internal */
  onReset(code: number): void {
    if ((this.state & CLOSED) !== 0) return
    this.terminate(new StreamResetError(`Stream ${this.id} reset by peer (code ${code})`, code, true))
    this.host.streamDone(this)
  }

  /**
   * The connection closed. Data already complete (FIN received) stays
   * readable; everything else fails with `error`. @internal
   */
  onConnectionClosed(error: Error): void {
    if ((this.state & CLOSED) !== 0) return
    if ((this.state & FIN_RECEIVED) !== 0 && (this.state & READ_DONE) === 0) {
      this.state |= CLOSED | FIN_SENT | END_REQUESTED
      this.error = error
      this.rejectWaiters(error)
      return
    }
    this.terminate(error)
  }
}
