import type { Duplex } from 'node:stream'
import {
  AbortError,
  CloseCode,
  type CloseInfo,
  ConnectionClosedError,
  LimitExceededError,
  type Logger,
  ProtocolError,
  StreamResetError,
  type TransportLimits,
  type TransportStream,
  asError,
  errorMessage,
} from '@crust/core'
import { FrameDecoder, type FrameSink, u32 } from './decoder.js'
import { DEFAULT_GROW_INTERVAL, DEFAULT_INITIAL_WINDOW, DEFAULT_MAX_WINDOW, InboundStreamCredit } from './flow-control.js'
import {
  Flag,
  FrameType,
  INITIAL_MAX_STREAMS,
  INITIAL_WINDOW,
  MAX_REASON_LENGTH,
  MAX_STREAM_ID,
} from './frame.js'
import { FrameWriter } from './frame-writer.js'
import { MuxStream, type StreamHost } from './stream.js'

/** Options of a {@link Muxer}. */
export interface MuxerOptions {
  /** `outbound` when we dialled: our streams get odd ids, the peer's even ids. */
  direction: 'inbound' | 'outbound'
  /** `idleTimeout`, `keepAliveInterval` (ms, 0 disables) and `maxInboundStreams` are used. */
  limits: TransportLimits
  logger?: Logger
  /**
   * Receive window a stream starts with, default 256 KiB. The peer may always
   * send the protocol's 256 KiB first; a larger value is granted at once, a
   * smaller one takes effect as credit is returned.
   */
  initialWindow?: number
  /** Ceiling for window growth, default 16 MiB. */
  maxWindow?: number
  /**
   * Control frames (pings answered, window updates, stream credit, resets)
   * that may wait while the peer does not read what we send, default
   * {@link DEFAULT_MAX_QUEUED_CONTROL}. A peer that makes us queue more is
   * disconnected with `LIMIT_REACHED` ("control queue overrun").
   */
  maxQueuedControlFrames?: number
}

/**
 * Default bound on queued control frames: 48 KiB of headers. A well-behaved
 * peer reads all the time, so only a handful wait between two socket drains
 * (one reset and one window update per stream at most).
 */
export const DEFAULT_MAX_QUEUED_CONTROL = 4096

/** Options of {@link Muxer.openStream}. */
export interface OpenStreamOptions {
  bidirectional: boolean
  /** Aborts waiting for stream credit; the promise rejects with `AbortError`. */
  signal?: AbortSignal
}

interface OpenWaiter {
  readonly bidirectional: boolean
  readonly resolve: (stream: MuxStream) => void
  readonly reject: (error: Error) => void
  readonly signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  settled: boolean
}

interface PendingPing {
  readonly start: number
  readonly resolve: (rtt: number) => void
  readonly reject: (error: Error) => void
}

function noop(): void {}

const OPEN = 0
const CLOSING = 1
const CLOSED = 2

const EMPTY = new Uint8Array(0)
/** Largest receive window. */
const MAX_WINDOW = 1024 * 1024 * 1024
/** How long an orderly close may take before the socket is destroyed. */
const CLOSE_TIMEOUT = 2_000

/**
 * Multiplexes streams over one byte stream (a TLS socket) with a yamux-like
 * framing, per-stream flow control and QUIC-style stream credit.
 *
 * Frames queued in the same tick are coalesced into one socket write; no
 * stream owns a timer; one timer per connection runs keep-alive and idle checks.
 */
export class Muxer implements StreamHost, FrameSink {
  /** Settles (never rejects) once the connection is fully closed, for any reason. */
  readonly closed: Promise<CloseInfo>
  /** @internal */ readonly maxWindow: number
  private readonly socket: Duplex
  private readonly limits: TransportLimits
  private readonly logger: Logger | undefined
  private readonly initialWindow: number
  private readonly decoder = new FrameDecoder()
  private readonly streams = new Map<number, MuxStream>()
  private state = OPEN
  private closeInfo: CloseInfo | undefined
  private resolveClosed!: (info: CloseInfo) => void
  private closeTimer: NodeJS.Timeout | undefined
  private socketClosed = false
  private received = 0

  // Streams we open: ids, stream credit granted by the peer, FIFO of openers waiting for it.
  private nextLocalId: number
  private localOpened = 0
  private localLimit = INITIAL_MAX_STREAMS
  private openWaiters: OpenWaiter[] = []
  private openHead = 0
  // Streams opened but whose SYN is not yet queued, in id order (see sendData).
  private unsynced: Array<MuxStream | undefined> = []
  private unsyncedHead = 0

  // Streams the peer opens.
  private lastRemoteId: number
  private readonly inbound: InboundStreamCredit
  private handler: ((stream: TransportStream) => void) | undefined
  private backlog: MuxStream[] | undefined = []

  /** Outgoing frames, batched per tick, and the bounds on what a peer that does not read can make us queue. */
  private readonly writer: FrameWriter

  // Ping, keep-alive and idle timer.
  private readonly pings = new Map<number, PendingPing>()
  private pingCounter = 0
  private keepAliveId = -1
  private keepAliveStart = 0
  private srtt = 0
  private lastReceived: number
  private lastKeepAlive: number
  private timer: NodeJS.Timeout | undefined

  /**
   * Take over `socket`: from now on only the muxer reads and writes it.
   * Sends MAX_STREAMS at once and starts the keep-alive/idle timer.
   */
  constructor(socket: Duplex, options: MuxerOptions) {
    this.socket = socket
    this.limits = options.limits
    this.logger = options.logger
    // Windows travel as u32 deltas; keep them well inside that range.
    this.initialWindow = clamp(options.initialWindow ?? DEFAULT_INITIAL_WINDOW, 1, MAX_WINDOW)
    this.maxWindow = clamp(options.maxWindow ?? DEFAULT_MAX_WINDOW, this.initialWindow, MAX_WINDOW)
    this.writer = new FrameWriter({
      socket,
      maxControl: clamp(Math.floor(options.maxQueuedControlFrames ?? DEFAULT_MAX_QUEUED_CONTROL), 16, 0x7fff_ffff),
      isOpen: () => this.state === OPEN,
      onOverrun: (error) => this.overrun(error),
    })
    this.nextLocalId = options.direction === 'outbound' ? 1 : 2
    this.lastRemoteId = options.direction === 'outbound' ? 0 : -1
    this.inbound = new InboundStreamCredit(clamp(Math.floor(options.limits.maxInboundStreams), 0, 0x7fff_ffff))
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve
    })
    this.lastReceived = this.lastKeepAlive = performance.now()

    ;(socket as { setNoDelay?: (noDelay: boolean) => unknown }).setNoDelay?.(true)
    socket.on('data', this.onSocketData)
    socket.on('drain', this.writer.onDrain)
    socket.on('error', this.onSocketError)
    socket.on('end', this.onSocketEnd)
    socket.on('close', this.onSocketClose)
    // Always read: flow control, not socket pauses, bounds what we buffer.
    socket.resume()
    if (socket.destroyed) {
      this.onSocketClose()
      return
    }
    this.writer.queueControl(FrameType.MAX_STREAMS, 0, 0, this.inbound.start())
    // Measure the RTT at once (free: same write as MAX_STREAMS); window growth needs it.
    this.sendKeepAlive(this.lastKeepAlive)
    this.armTimer()
  }

  /** Bytes written to the socket, headers included. */
  get bytesSent(): number {
    return this.writer.sent
  }

  /** Bytes read from the socket. */
  get bytesReceived(): number {
    return this.received
  }

  /** Smoothed round-trip time from pings and keep-alives, in ms; 0 until one completes. */
  get rtt(): number {
    return this.srtt
  }

  /** Streams currently open (not yet finished on both halves). */
  get streamCount(): number {
    return this.streams.size
  }

  /**
   * Open a stream. Nothing is sent until the first write (which carries SYN),
   * so a small message costs one frame. When the peer's stream credit is used
   * up this waits, first come first served, until MAX_STREAMS raises it.
   * Rejects with `AbortError` when `signal` aborts and `ConnectionClosedError`
   * when the connection closes.
   */
  openStream(options: OpenStreamOptions): Promise<TransportStream> {
    if (this.state !== OPEN) return Promise.reject(this.closedError())
    const signal = options.signal
    if (signal?.aborted === true) return Promise.reject(new AbortError())
    if (this.openHead === this.openWaiters.length && this.localOpened < this.localLimit) {
      try {
        return Promise.resolve(this.createLocal(options.bidirectional))
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
      this.openWaiters.push(waiter)
    })
  }

  /**
   * Register the handler for streams the peer opens. Streams that arrived
   * before are delivered now, in order. A handler that throws resets its stream.
   */
  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler
    const backlog = this.backlog
    if (backlog === undefined) return
    this.backlog = undefined
    for (const stream of backlog) this.deliver(stream)
  }

  /**
   * Close the connection: queued frames are flushed, then GO_AWAY with
   * `code` (default NORMAL) and `reason`, then the socket is ended. Open
   * streams fail with `StreamResetError`. Idempotent; resolves once closed.
   */
  close(options?: { code?: number; reason?: string }): Promise<void> {
    if (this.state === OPEN) {
      const code = options?.code ?? CloseCode.NORMAL
      this.shutdown({ code, reason: options?.reason ?? '', remote: false }, true)
    }
    return this.closed.then(noop)
  }

  /** Round-trip time to the peer in ms, measured with a PING frame. */
  ping(): Promise<number> {
    if (this.state !== OPEN) return Promise.reject(this.closedError())
    const id = this.nextPingId()
    return new Promise<number>((resolve, reject) => {
      this.pings.set(id, { start: performance.now(), resolve, reject })
      this.writer.queueControl(FrameType.PING, Flag.SYN, 0, id)
    })
  }

  // ---- StreamHost: called by streams. ----

  /** @internal */
  get writable(): boolean {
    return this.writer.writable
  }

  /** @internal */
  get growInterval(): number {
    // Two RTTs when known (a window drained in that time is too small for the path).
    return this.srtt > 0 ? Math.max(2 * this.srtt, 1) : DEFAULT_GROW_INTERVAL
  }

  /** @internal */
  whenWritable(): Promise<void> {
    return this.writer.whenWritable(() => this.closedError())
  }

  /** @internal */
  whenFlushed(): Promise<void> {
    return this.writer.whenFlushed()
  }

  /** @internal */
  sendData(stream: MuxStream, payload: Uint8Array, flags: number): void {
    if (this.state !== OPEN) return
    const first = !stream.synSent
    if (first) flags |= this.sync(stream)
    this.writer.push(FrameType.DATA, flags, stream.id, payload.length, payload)
    if (first && stream.bidirectional) this.grantExtraWindow(stream)
  }

  /** The peer may send the protocol's initial window; a larger configured one is granted right after SYN. */
  private grantExtraWindow(stream: MuxStream): void {
    const extra = this.initialWindow - INITIAL_WINDOW
    if (extra <= 0) return
    stream.recvCredit += extra
    this.writer.queueControl(FrameType.WINDOW_UPDATE, 0, stream.id, extra)
  }

  /** @internal */
  sendReset(stream: MuxStream, code: number): void {
    if (this.state !== OPEN) return
    const flags = Flag.RST | (stream.synSent ? 0 : this.sync(stream))
    const payload = Buffer.allocUnsafe(4)
    payload.writeUInt32BE(code, 0)
    this.writer.push(FrameType.DATA, flags, stream.id, 4, payload)
    // A peer can draw resets without end (streams we refuse): they count as control.
    this.writer.countControl()
  }

  /** @internal */
  sendWindowUpdate(stream: MuxStream, delta: number): void {
    this.writer.queueControl(FrameType.WINDOW_UPDATE, 0, stream.id, delta)
  }

  /** @internal */
  streamDone(stream: MuxStream): void {
    if (this.streams.get(stream.id) !== stream) return
    this.streams.delete(stream.id)
    if (stream.direction === 'inbound' && this.state === OPEN) {
      const value = this.inbound.finish()
      if (value !== undefined) this.writer.queueControl(FrameType.MAX_STREAMS, 0, 0, value)
    }
  }

  // ---- Opening streams. ----

  private createLocal(bidirectional: boolean): MuxStream {
    const id = this.nextLocalId
    if (id > MAX_STREAM_ID) throw new ConnectionClosedError('Stream ids exhausted on this connection', CloseCode.LIMIT_REACHED)
    this.nextLocalId += 2
    this.localOpened++
    const stream = new MuxStream(this, id, 'outbound', bidirectional, this.initialWindow, performance.now())
    this.streams.set(id, stream)
    this.unsynced.push(stream)
    return stream
  }

  /**
   * Mark `stream`'s SYN as sent, first queueing a bare SYN for every stream
   * opened before it that has not sent anything yet: the peer requires SYNs in
   * id order, while the application may write to its streams in any order.
   * Returns the flags for the stream's own first frame.
   */
  private sync(stream: MuxStream): number {
    const unsynced = this.unsynced
    while (this.unsyncedHead < unsynced.length) {
      const earlier = unsynced[this.unsyncedHead]
      unsynced[this.unsyncedHead++] = undefined
      if (earlier === undefined || earlier === stream) break
      earlier.markSynSent()
      this.writer.push(FrameType.DATA, synFlags(earlier), earlier.id, 0, EMPTY)
      if (earlier.bidirectional) this.grantExtraWindow(earlier)
    }
    if (this.unsyncedHead === unsynced.length) {
      unsynced.length = 0
      this.unsyncedHead = 0
    }
    stream.markSynSent()
    return synFlags(stream)
  }

  private grantOpenWaiters(): void {
    const waiters = this.openWaiters
    while (this.openHead < waiters.length && this.localOpened < this.localLimit) {
      const waiter = waiters[this.openHead++] as OpenWaiter
      if (waiter.settled) continue
      waiter.settled = true
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort)
      try {
        waiter.resolve(this.createLocal(waiter.bidirectional))
      } catch (error) {
        waiter.reject(error as Error)
      }
    }
    // Skip aborted waiters at the head so the fast path in openStream applies again.
    while (this.openHead < waiters.length && (waiters[this.openHead] as OpenWaiter).settled) this.openHead++
    if (this.openHead === waiters.length) {
      waiters.length = 0
      this.openHead = 0
    } else if (this.openHead > 1024 && this.openHead * 2 > waiters.length) {
      waiters.splice(0, this.openHead)
      this.openHead = 0
    }
  }

  // ---- Incoming bytes. ----

  private readonly onSocketData = (chunk: Buffer): void => {
    // After a close began, drain and ignore the socket so it can end cleanly.
    if (this.state !== OPEN) return
    this.received += chunk.length
    this.lastReceived = performance.now()
    try {
      this.decoder.decode(chunk, this)
    } catch (error) {
      if (error instanceof ProtocolError) this.protocolError(error)
      else this.internalError(error)
    }
  }

  /** FrameSink: a whole frame. @internal */
  frame(type: number, flags: number, streamId: number, length: number, payload: Uint8Array | undefined): void {
    // Frames after the one that closed the connection are ignored.
    if (this.state !== OPEN) return
    switch (type) {
      case FrameType.DATA:
        this.handleData(flags, streamId, length, payload as Uint8Array, undefined)
        return
      case FrameType.WINDOW_UPDATE: {
        const stream = this.streams.get(streamId)
        if (stream !== undefined) stream.onWindowUpdate(length)
        else this.checkStale(streamId, 'WINDOW_UPDATE')
        return
      }
      case FrameType.PING:
        if (streamId !== 0) throw new ProtocolError('PING on a stream id other than 0')
        if ((flags & Flag.ACK) !== 0) this.onPong(length)
        else if ((flags & Flag.SYN) !== 0) this.writer.queueControl(FrameType.PING, Flag.ACK, 0, length)
        else throw new ProtocolError('PING without SYN or ACK')
        return
      case FrameType.GO_AWAY: {
        const bytes = payload as Uint8Array
        const reason = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
        this.logger?.debug(`peer sent GO_AWAY code ${streamId}: ${reason}`)
        this.shutdown({ code: streamId, reason, remote: true }, false)
        return
      }
      case FrameType.MAX_STREAMS:
        if (streamId !== 0) throw new ProtocolError('MAX_STREAMS on a stream id other than 0')
        // Cumulative and monotonic: a smaller value is stale and ignored.
        if (length > this.localLimit) {
          this.localLimit = length
          if (this.openHead < this.openWaiters.length) this.grantOpenWaiters()
        }
        return
    }
  }

  /** FrameSink: a whole DATA frame whose large payload arrived in `pieces`. @internal */
  pieces(flags: number, streamId: number, length: number, pieces: Uint8Array[]): void {
    if (this.state !== OPEN) return
    this.handleData(flags, streamId, length, undefined, pieces)
  }

  /** A DATA frame; its payload is `payload`, or the concatenation of `pieces`. */
  private handleData(flags: number, id: number, length: number, payload: Uint8Array | undefined, pieces: Uint8Array[] | undefined): void {
    let stream: MuxStream | undefined
    let created = false
    if ((flags & Flag.SYN) !== 0) {
      if (!this.isRemoteId(id) || id !== this.lastRemoteId + 2) {
        throw new ProtocolError(`SYN for stream ${id}, expected ${this.lastRemoteId + 2}`)
      }
      if (!this.inbound.open()) throw new ProtocolError(`Stream ${id} opened beyond the stream credit`)
      this.lastRemoteId = id
      if ((flags & Flag.RST) !== 0) {
        // Opened and reset before anything else: just count it as finished.
        const value = this.inbound.finish()
        if (value !== undefined) this.writer.queueControl(FrameType.MAX_STREAMS, 0, 0, value)
        return
      }
      // Created while handling a read: its time is the read's (saves a clock read per stream).
      stream = new MuxStream(this, id, 'inbound', (flags & Flag.UNI) === 0, this.initialWindow, this.lastReceived)
      this.streams.set(id, stream)
      created = true
    } else {
      if ((flags & Flag.UNI) !== 0) throw new ProtocolError('UNI flag without SYN')
      stream = this.streams.get(id)
      if (stream === undefined) {
        this.checkStale(id, 'DATA')
        return
      }
      if ((flags & Flag.RST) !== 0) {
        stream.onReset(u32(payload as Uint8Array, 0))
        return
      }
    }
    if (pieces !== undefined) {
      // The frame as a whole must fit; then its pieces go to the stream as they are.
      stream.checkData(length)
      for (let i = 0; i < pieces.length; i++) stream.onData(pieces[i] as Uint8Array)
    } else if (length > 0) {
      stream.onData(payload as Uint8Array)
    }
    if ((flags & Flag.FIN) !== 0) stream.onFin()
    if (created) {
      if ((flags & Flag.FIN) === 0) this.grantExtraWindow(stream)
      const value = this.inbound.due()
      if (value !== undefined) this.writer.queueControl(FrameType.MAX_STREAMS, 0, 0, value)
      this.deliver(stream)
    }
  }

  /** A frame for a stream not in the map: fine if the stream existed (late frame), an error if it never did. */
  private checkStale(id: number, what: string): void {
    const known = this.isRemoteId(id) ? id <= this.lastRemoteId : id !== 0 && id < this.nextLocalId
    if (!known) throw new ProtocolError(`${what} for unknown stream ${id}`)
  }

  private isRemoteId(id: number): boolean {
    return id !== 0 && (id & 1) === (this.lastRemoteId & 1)
  }

  private deliver(stream: MuxStream): void {
    const handler = this.handler
    if (handler === undefined) {
      this.backlog?.push(stream)
      return
    }
    try {
      handler(stream)
    } catch (error) {
      this.logger?.warn(`stream handler threw: ${errorMessage(error)}`)
      stream.reset(CloseCode.INTERNAL)
    }
  }

  private onPong(id: number): void {
    const now = performance.now()
    let rtt: number
    if (id === this.keepAliveId) {
      this.keepAliveId = -1
      rtt = now - this.keepAliveStart
    } else {
      const ping = this.pings.get(id)
      if (ping === undefined) return
      this.pings.delete(id)
      rtt = now - ping.start
      ping.resolve(rtt)
    }
    this.srtt = this.srtt === 0 ? rtt : this.srtt * 0.875 + rtt * 0.125
  }

  private nextPingId(): number {
    this.pingCounter = (this.pingCounter + 1) >>> 0
    return this.pingCounter
  }

  // ---- Outgoing bytes: the FrameWriter. ----

  /**
   * The peer overran a bound: drop what is queued for it and close with
   * LIMIT_REACHED. The socket is destroyed at once rather than ended: a peer
   * that does not read would never take the rest (the GO_AWAY is best effort).
   */
  private overrun(error: LimitExceededError): void {
    this.logger?.debug(error.message)
    this.writer.drop()
    this.shutdown({ code: CloseCode.LIMIT_REACHED, reason: error.message.split(':')[0] as string, remote: false, error }, true)
    if (!this.socket.destroyed) this.socket.destroy()
  }

  // ---- Timers. ----

  /** One timer per connection: it wakes at the next keep-alive or idle deadline. */
  private armTimer(): void {
    const { idleTimeout, keepAliveInterval } = this.limits
    if (this.state !== OPEN || (idleTimeout <= 0 && keepAliveInterval <= 0)) return
    let at = Number.POSITIVE_INFINITY
    if (keepAliveInterval > 0) at = this.lastKeepAlive + keepAliveInterval
    if (idleTimeout > 0) at = Math.min(at, this.lastReceived + idleTimeout, this.writer.writable ? at : this.writer.blockedSince + idleTimeout)
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(at - performance.now())))
    this.timer.unref()
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    if (this.state !== OPEN) return
    const { idleTimeout, keepAliveInterval } = this.limits
    const now = performance.now()
    if (idleTimeout > 0 && now - this.lastReceived >= idleTimeout) {
      this.logger?.debug(`idle for ${Math.round(now - this.lastReceived)} ms, closing`)
      this.shutdown({ code: CloseCode.IDLE_TIMEOUT, reason: 'idle timeout', remote: false }, true)
      return
    }
    if (idleTimeout > 0 && !this.writer.writable && this.writer.stalled(now, idleTimeout)) {
      // The peer has not taken a byte from us for a whole idle timeout, though it may still be sending.
      this.overrun(
        new LimitExceededError(
          `write stalled: the peer took none of our bytes for ${Math.round(now - this.writer.blockedSince)} ms`,
          'connection.idleTimeout',
        ),
      )
      return
    }
    if (keepAliveInterval > 0 && now - this.lastKeepAlive >= keepAliveInterval) this.sendKeepAlive(now)
    this.armTimer()
  }

  private sendKeepAlive(now: number): void {
    this.lastKeepAlive = now
    this.keepAliveId = this.nextPingId()
    this.keepAliveStart = now
    this.writer.queueControl(FrameType.PING, Flag.SYN, 0, this.keepAliveId)
  }

  // ---- Closing. ----

  private protocolError(error: ProtocolError): void {
    this.logger?.debug(`protocol error: ${error.message}`)
    this.shutdown({ code: CloseCode.PROTOCOL_ERROR, reason: error.message, remote: false, error }, true)
  }

  private internalError(error: unknown): void {
    const err = asError(error)
    this.logger?.error(`internal error: ${err.stack ?? err.message}`)
    this.shutdown({ code: CloseCode.INTERNAL, reason: 'internal error', remote: false, error: err }, true)
  }

  private readonly onSocketError = (error: Error): void => {
    if (this.state === OPEN) {
      this.shutdown({ code: CloseCode.INTERNAL, reason: error.message, remote: true, error }, false)
    }
    if (!this.socket.destroyed) this.socket.destroy()
  }

  private readonly onSocketEnd = (): void => {
    if (this.state === OPEN) {
      this.shutdown({ code: CloseCode.INTERNAL, reason: 'connection closed by peer without GO_AWAY', remote: true }, false)
    }
  }

  private readonly onSocketClose = (): void => {
    this.socketClosed = true
    this.writer.markSocketClosed()
    if (this.state === OPEN) {
      this.shutdown({ code: CloseCode.INTERNAL, reason: 'connection lost', remote: true }, false)
    }
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer)
    this.closeTimer = undefined
    if (this.state !== CLOSED) {
      this.state = CLOSED
      this.resolveClosed(this.closeInfo as CloseInfo)
    }
  }

  /**
   * Move to closing: fail every stream and waiter, flush what is queued plus
   * GO_AWAY when `goAway`, end the socket and wait for it to close (destroying
   * it if that takes too long). Runs once.
   */
  private shutdown(info: CloseInfo, goAway: boolean): void {
    if (this.state !== OPEN) return
    if (goAway) {
      const reason = truncateUtf8(info.reason, MAX_REASON_LENGTH)
      // Bypass `queueControl`, which refuses frames once closing.
      this.writer.enqueue(FrameType.GO_AWAY, 0, info.code >>> 0, reason.length, reason)
    }
    this.state = CLOSING
    this.closeInfo = info
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined

    const connectionError = new ConnectionClosedError(
      `Connection closed${info.remote ? ' by peer' : ''}: ${info.reason || `code ${info.code}`}`,
      info.code,
      info.error === undefined ? undefined : { cause: info.error },
    )
    const streamError = new StreamResetError(connectionError.message, info.code, info.remote)
    for (const stream of this.streams.values()) stream.onConnectionClosed(streamError)
    this.streams.clear()
    this.unsynced = []
    this.unsyncedHead = 0
    for (let i = this.openHead; i < this.openWaiters.length; i++) {
      const waiter = this.openWaiters[i] as OpenWaiter
      if (waiter.settled) continue
      waiter.settled = true
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort)
      waiter.reject(connectionError)
    }
    this.openWaiters = []
    this.openHead = 0
    for (const ping of this.pings.values()) ping.reject(connectionError)
    this.pings.clear()

    // Last flush (GO_AWAY among it), ignoring backpressure; then fail the writers' waiters.
    this.writer.finish(connectionError)

    if (this.socketClosed) return
    this.socket.end()
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT)
    this.closeTimer.unref()
  }

  private closedError(): ConnectionClosedError {
    const info = this.closeInfo
    return new ConnectionClosedError(`Connection closed: ${info?.reason || `code ${info?.code ?? 0}`}`, info?.code ?? 0)
  }
}

function clamp(value: number, min: number, max: number): number {
  return Number.isNaN(value) ? min : Math.min(max, Math.max(min, value))
}

function synFlags(stream: MuxStream): number {
  return stream.bidirectional ? Flag.SYN : Flag.SYN | Flag.UNI
}

/** UTF-8 bytes of `text`, cut to at most `max` bytes without splitting a character. */
function truncateUtf8(text: string, max: number): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= max) return bytes
  let end = max
  // Step back over continuation bytes (10xxxxxx) to a character boundary.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}
