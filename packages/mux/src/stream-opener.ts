/**
 * The muxer's outbound-stream side: ids of the streams we open, the stream
 * credit the peer grants (MAX_STREAMS), the FIFO of openers waiting for it,
 * and the rule that SYNs leave in id order.
 *
 * @packageDocumentation
 */
import { AbortError, CloseCode, ConnectionClosedError } from '@crust/core'
import { Flag, INITIAL_MAX_STREAMS, MAX_STREAM_ID } from './frame.js'
import type { MuxStream } from './stream.js'

/** Options of {@link Muxer.openStream}. */
export interface OpenStreamOptions {
  bidirectional: boolean
  /** Aborts waiting for stream credit; the promise rejects with `AbortError`. */
  signal?: AbortSignal
}

/**
 * What the opener needs from its muxer. An interface rather than the Muxer
 * class keeps the dependency one-way.
 * @internal
 */
export interface OpenerHost {
  /** Create the outbound stream `id` and register it with the muxer. */
  createStream(id: number, bidirectional: boolean): MuxStream
  /** Queue a bare SYN (flags `flags`) for `stream`, which has sent nothing yet. */
  sendSyn(stream: MuxStream, flags: number): void
}

interface OpenWaiter {
  readonly bidirectional: boolean
  readonly resolve: (stream: MuxStream) => void
  readonly reject: (error: Error) => void
  readonly signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  settled: boolean
}

/** SYN flags of a stream's first frame. */
export function synFlags(stream: MuxStream): number {
  return stream.bidirectional ? Flag.SYN : Flag.SYN | Flag.UNI
}

/**
 * Opens our streams within the peer's stream credit: at once while credit is
 * left and nobody waits, otherwise first come first served as MAX_STREAMS
 * raises it. Knows which streams have not sent their SYN yet, so that the
 * first frame of any stream first queues bare SYNs for the earlier ones.
 * @internal
 */
export class StreamOpener {
  private nextId: number
  private opened = 0
  private limit = INITIAL_MAX_STREAMS
  private waiters: OpenWaiter[] = []
  private head = 0
  // Streams opened but whose SYN is not yet queued, in id order.
  private unsynced: Array<MuxStream | undefined> = []
  private unsyncedHead = 0

  /** `firstId` is 1 on the side that dialled, 2 on the other. */
  constructor(
    private readonly host: OpenerHost,
    firstId: number,
  ) {
    this.nextId = firstId
  }

  /** A stream now, or once credit allows; the caller checked that the connection is open. */
  open(options: OpenStreamOptions): Promise<MuxStream> {
    const signal = options.signal
    if (signal?.aborted === true) return Promise.reject(new AbortError())
    if (this.head === this.waiters.length && this.opened < this.limit) {
      try {
        return Promise.resolve(this.create(options.bidirectional))
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return new Promise<MuxStream>((resolve, reject) => {
      const waiter: OpenWaiter = {
        bidirectional: options.bidirectional,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        settled: false,
      }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          if (waiter.settled) return
          waiter.settled = true
          reject(new AbortError())
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.waiters.push(waiter)
    })
  }

  /** MAX_STREAMS arrived: cumulative and monotonic, so a smaller value is stale and ignored. */
  raiseLimit(value: number): void {
    if (value <= this.limit) return
    this.limit = value
    if (this.head < this.waiters.length) this.grantWaiters()
  }

  /** Whether `id` is one of ours that was opened (a late frame for it is no error). */
  wasOpened(id: number): boolean {
    return id !== 0 && id < this.nextId
  }

  /**
   * Mark `stream`'s SYN as sent, first queueing a bare SYN for every stream
   * opened before it that has not sent anything yet: the peer requires SYNs in
   * id order, while the application may write to its streams in any order.
   * Returns the flags for the stream's own first frame.
   */
  sync(stream: MuxStream): number {
    const unsynced = this.unsynced
    while (this.unsyncedHead < unsynced.length) {
      const earlier = unsynced[this.unsyncedHead]
      unsynced[this.unsyncedHead++] = undefined
      if (earlier === undefined || earlier === stream) break
      earlier.markSynSent()
      this.host.sendSyn(earlier, synFlags(earlier))
    }
    if (this.unsyncedHead === unsynced.length) {
      unsynced.length = 0
      this.unsyncedHead = 0
    }
    stream.markSynSent()
    return synFlags(stream)
  }

  /** The connection closed: every waiting opener fails with `error`. */
  fail(error: Error): void {
    this.unsynced = []
    this.unsyncedHead = 0
    for (let i = this.head; i < this.waiters.length; i++) {
      const waiter = this.waiters[i] as OpenWaiter
      if (waiter.settled) continue
      waiter.settled = true
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort)
      waiter.reject(error)
    }
    this.waiters = []
    this.head = 0
  }

  private create(bidirectional: boolean): MuxStream {
    const id = this.nextId
    if (id > MAX_STREAM_ID) throw new ConnectionClosedError('Stream ids exhausted on this connection', CloseCode.LIMIT_REACHED)
    this.nextId += 2
    this.opened++
    const stream = this.host.createStream(id, bidirectional)
    this.unsynced.push(stream)
    return stream
  }

  private grantWaiters(): void {
    const waiters = this.waiters
    while (this.head < waiters.length && this.opened < this.limit) {
      const waiter = waiters[this.head++] as OpenWaiter
      if (waiter.settled) continue
      waiter.settled = true
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort)
      try {
        waiter.resolve(this.create(waiter.bidirectional))
      } catch (error) {
        waiter.reject(error as Error)
      }
    }
    // Skip aborted waiters at the head so the fast path in open() applies again.
    while (this.head < waiters.length && (waiters[this.head] as OpenWaiter).settled) this.head++
    if (this.head === waiters.length) {
      waiters.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > waiters.length) {
      waiters.splice(0, this.head)
      this.head = 0
    }
  }
}
