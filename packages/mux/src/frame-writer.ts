/**
 * The muxer's outgoing side: frames are queued and written to the socket in
 * one write per event-loop turn (or sooner, past a threshold), control
 * replies a peer can draw are bounded, and a socket the peer stopped reading
 * is noticed.
 *
 * @packageDocumentation
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { LimitExceededError } from '@crust/core'
import { FrameType, HEADER_LENGTH, writeHeader } from './frame.js'
import { acquireStaging, releaseStaging, STAGING_SIZE } from './staging.js'

const RESOLVED = Promise.resolve()
const EMPTY = new Uint8Array(0)
/** Queued bytes that trigger a flush before the end of the event-loop turn. */
const FLUSH_THRESHOLD = 256 * 1024
/** Flushes smaller than this go into a pooled small buffer rather than a staging buffer. */
const SMALL_FLUSH = 4096

/** A promise shared by every caller waiting for the same event. */
interface Deferred {
  readonly promise: Promise<void>
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

function deferred(): Deferred {
  let resolve!: () => void
  let reject!: (error: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Waiters get the rejection through their own await; never report it as unhandled.
  promise.catch(() => {})
  return { promise, resolve, reject }
}

/** What the writer needs from its muxer. */
export interface FrameWriterOptions {
  readonly socket: Duplex
  /** Most control frames that may wait while the peer does not read. */
  readonly maxControl: number
  /** Whether the connection still takes new frames. */
  readonly isOpen: () => boolean
  /** The peer overran a bound: the muxer cuts it off. */
  readonly onOverrun: (error: LimitExceededError) => void
}

/** Queues frames and writes them to the socket in batches. */
export class FrameWriter {
  private readonly socket: Duplex
  /** Whether flushes may use a reused staging buffer (only a real socket reports when it consumed one). */
  private readonly recycles: boolean
  private heads: number[] = []
  private bodies: Uint8Array[] = []
  private queued = 0
  private flushScheduled = false
  private flushWaiter: Deferred | undefined
  private drainWaiter: Deferred | undefined
  private canWrite = true
  private socketClosed = false
  private controlQueued = 0
  /** Index in `heads` of the queued MAX_STREAMS frame, -1 when none. */
  private maxStreamsAt = -1
  /** Since when the socket has been full, and how much it held then (for stall detection). */
  private blockedAt = 0
  private blockedPending = 0
  private sentBytes = 0

  constructor(private readonly options: FrameWriterOptions) {
    this.socket = options.socket
    this.recycles = options.socket instanceof Socket
  }

  /** Bytes written to the socket, headers included. */
  get sent(): number {
    return this.sentBytes
  }

  /** False while the socket is full (a write returned false and no drain came yet). */
  get writable(): boolean {
    return this.canWrite
  }

  /** When the socket became full (`performance.now()` time); meaningful while not writable. */
  get blockedSince(): number {
    return this.blockedAt
  }

  /** The socket is gone: write nothing more. */
  markSocketClosed(): void {
    this.socketClosed = true
  }

  /** Resolves once the socket takes more bytes; rejects with `closedError()` when the connection is not open. */
  whenWritable(closedError: () => Error): Promise<void> {
    if (!this.options.isOpen()) return Promise.reject(closedError())
    if (this.canWrite) return RESOLVED
    if (this.drainWaiter === undefined) this.drainWaiter = deferred()
    return this.drainWaiter.promise
  }

  /** Resolves once every queued frame was handed to the socket. */
  whenFlushed(): Promise<void> {
    if (this.queued === 0) return RESOLVED
    if (this.flushWaiter === undefined) this.flushWaiter = deferred()
    return this.flushWaiter.promise
  }

  /** Queue a control frame (no payload; `value` goes in the length field). Ignored once the connection is closing. */
  queueControl(type: number, flags: number, streamId: number, value: number): void {
    if (!this.options.isOpen()) return
    if (type === FrameType.MAX_STREAMS) {
      // Cumulative: only the newest value matters.
      if (this.maxStreamsAt >= 0) {
        this.heads[this.maxStreamsAt + 2] = value
        return
      }
      this.maxStreamsAt = this.heads.length
    }
    this.push(type, flags, streamId, value, EMPTY)
    this.countControl()
  }

  /**
   * Count a queued control frame. Control frames are replies a peer can draw
   * (a PING, a refused stream), queued whether or not the socket takes more
   * bytes. While it does, they are flushed in batches; while it does not
   * (the peer stopped reading), at most `maxControl` may wait: past that the
   * peer is cut off rather than buffered without bound.
   */
  countControl(): void {
    const { maxControl } = this.options
    if (++this.controlQueued < maxControl >>> 2) return
    if (this.canWrite) {
      this.flush()
      return
    }
    if (this.controlQueued <= maxControl || !this.options.isOpen()) return
    this.options.onOverrun(
      new LimitExceededError(
        `control queue overrun: the peer does not read our replies (${this.controlQueued} control frames queued)`,
        'mux.maxQueuedControlFrames',
      ),
    )
  }

  /** Queue one frame: its header fields and its payload (empty for none; `length` is then a value). */
  push(type: number, flags: number, streamId: number, length: number, payload: Uint8Array): void {
    this.enqueue(type, flags, streamId, length, payload)
    if (this.queued >= FLUSH_THRESHOLD) this.flush()
    else if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flushCallback)
    }
  }

  /** Queue one frame without scheduling a flush (the closing muxer flushes itself). */
  enqueue(type: number, flags: number, streamId: number, length: number, payload: Uint8Array): void {
    this.heads.push((type << 16) | flags, streamId, length)
    this.bodies.push(payload)
    this.queued += HEADER_LENGTH + payload.length
  }

  private readonly flushCallback = (): void => {
    this.flushScheduled = false
    if (this.canWrite && this.options.isOpen()) this.flush()
  }

  /**
   * Hand every queued frame to the socket in one write. Everything is copied
   * into one buffer: small frames would cost a syscall (and a TLS record)
   * each, and after the copy the caller may reuse its buffer as soon as its
   * write resolves, even if the socket is still holding the bytes. Small
   * flushes go into a buffer from Node's small-buffer pool; larger ones into
   * a reused staging buffer (fresh memory is expensive), which goes back to
   * its free list once the socket has consumed it (see staging.ts).
   */
  flush(): void {
    const bodies = this.bodies
    const count = bodies.length
    if (count === 0 || !this.canWrite || this.socketClosed) return
    const heads = this.heads
    const total = this.queued
    this.queued = 0
    const staged = total >= SMALL_FLUSH && total <= STAGING_SIZE && this.recycles
    const out = staged ? acquireStaging() : Buffer.allocUnsafe(total)
    let offset = 0
    for (let i = 0, h = 0; i < count; i++, h += 3) {
      const typeFlags = heads[h] as number
      writeHeader(out, offset, typeFlags >>> 16, typeFlags & 0xffff, heads[h + 1] as number, heads[h + 2] as number)
      offset += HEADER_LENGTH
      const body = bodies[i] as Uint8Array
      if (body.length > 0) {
        out.set(body, offset)
        offset += body.length
      }
    }
    heads.length = 0
    bodies.length = 0
    this.controlQueued = 0
    this.maxStreamsAt = -1
    const ok = staged ? this.socket.write(out.subarray(0, total), () => releaseStaging(out)) : this.socket.write(out)
    this.sentBytes += total
    if (!ok) {
      this.canWrite = false
      this.blockedAt = performance.now()
      this.blockedPending = this.socket.writableLength
    }
    const waiter = this.flushWaiter
    if (waiter !== undefined) {
      this.flushWaiter = undefined
      waiter.resolve()
    }
  }

  /** The socket's 'drain': write what waited, and wake writers. */
  readonly onDrain = (): void => {
    if (!this.options.isOpen()) return
    this.canWrite = true
    this.flush()
    const waiter = this.drainWaiter
    if (waiter !== undefined && this.canWrite) {
      this.drainWaiter = undefined
      waiter.resolve()
    }
  }

  /**
   * True when the socket, full since `blockedSince`, has not handed a byte
   * to the peer for `timeout` ms. Nothing is added to its buffer while it is
   * full, so any drop in its length is the peer reading (a slow link).
   */
  stalled(now: number, timeout: number): boolean {
    const pending = this.socket.writableLength
    if (pending < this.blockedPending) {
      this.blockedPending = pending
      this.blockedAt = now
    }
    return now - this.blockedAt >= timeout
  }

  /**
   * The connection is closing: write what is queued (GO_AWAY among it) while
   * the socket still takes bytes, ignoring backpressure (the frames are few
   * and the socket is ending), then drop everything and fail the waiters.
   */
  finish(error: Error): void {
    if (!this.socketClosed && !this.socket.destroyed && this.socket.writable) {
      this.canWrite = true
      this.flush()
    }
    this.drop()
    this.flushWaiter?.reject(error)
    this.flushWaiter = undefined
    this.drainWaiter?.reject(error)
    this.drainWaiter = undefined
  }

  /** Forget every queued frame (a peer that overran a bound gets none of them). */
  drop(): void {
    this.heads = []
    this.bodies = []
    this.queued = 0
    this.controlQueued = 0
    this.maxStreamsAt = -1
  }
}
