import type { Duplex } from 'node:stream'
import {
  CloseCode,
  type CloseInfo,
  ConnectionClosedError,
  type LimitExceededError,
  type Logger,
  ProtocolError,
  StreamResetCode,
  StreamResetError,
  type TransportLimits,
  type TransportStream,
} from '@crust/core'
import { asError } from '@crust/core/plugin'
import { FrameDecoder, type FrameSink, u32 } from './decoder.js'
import { DEFAULT_INITIAL_WINDOW, DEFAULT_MAX_WINDOW } from './flow-control.js'
import { encodeReason, Flag, FrameType, INITIAL_WINDOW } from './frame.js'
import { FrameWriter } from './frame-writer.js'
import { Liveness } from './liveness.js'
import { MuxStream, type StreamHost } from './stream.js'
import { StreamAcceptor } from './stream-acceptor.js'
import { type OpenerHost, type OpenStreamOptions, StreamOpener } from './stream-opener.js'

export type { OpenStreamOptions } from './stream-opener.js'

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
  /**
   * A bound the peer's streams share with streams it opens outside this
   * muxer (QUIC's message channel: its native QUIC streams), checked on each
   * of the peer's SYNs after the stream credit. A stream `admit()` turns down
   * is reset with `StreamResetCode.REFUSED` before the handler sees it; every
   * admitted stream is `release()`d once when it finishes.
   */
  inboundGate?: InboundGate
}

/** A bound shared by the peer's streams of several kinds (see {@link MuxerOptions.inboundGate}). */
export interface InboundGate {
  /** Count one more of the peer's streams, or return false when the bound is reached. */
  admit(): boolean
  /** One admitted stream finished. */
  release(): void
}

/**
 * Default bound on queued control frames: 48 KiB of headers. A well-behaved
 * peer reads all the time, so only a handful wait between two socket drains
 * (one reset and one window update per stream at most).
 */
export const DEFAULT_MAX_QUEUED_CONTROL = 4096

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
 * The muxer itself owns the stream map, the dispatch of incoming frames and
 * closing. Its parts: {@link FrameWriter} (outgoing frames, coalesced into one
 * socket write per tick), {@link StreamOpener} (our streams: ids, the peer's
 * credit, waiting openers, SYN order), {@link StreamAcceptor} (the peer's
 * streams: SYN order, the credit we grant, delivery to the handler) and
 * {@link Liveness} (pings, keep-alive, RTT and the one timer per connection;
 * no stream owns a timer).
 */
export class Muxer implements StreamHost, OpenerHost, FrameSink {
  /** Settles (never rejects) once the connection is fully closed, for any reason. */
  readonly closed: Promise<CloseInfo>
  /** @internal */ readonly maxWindow: number
  private readonly socket: Duplex
  private readonly logger: Logger | undefined
  private readonly initialWindow: number
  /** Window granted right after a bidirectional stream's SYN beyond the protocol's initial one (0 when none). */
  private readonly extraWindow: number
  private readonly decoder = new FrameDecoder()
  private readonly streams = new Map<number, MuxStream>()
  private state = OPEN
  private closeInfo: CloseInfo | undefined
  private resolveClosed!: (info: CloseInfo) => void
  private closeTimer: NodeJS.Timeout | undefined
  private socketClosed = false
  private received = 0
  private readonly inboundGate: InboundGate | undefined

  /** Streams we open: ids, stream credit granted by the peer, openers waiting for it, SYN order. */
  private readonly opener: StreamOpener

  /** Streams the peer opens: SYN order, the credit we grant it, delivery to the handler. */
  private readonly acceptor: StreamAcceptor

  /** Outgoing frames, batched per tick, and the bounds on what a peer that does not read can make us queue. */
  private readonly writer: FrameWriter
  /** Pings, keep-alive, RTT and the idle/keep-alive timer. */
  private readonly liveness: Liveness

  /**
   * Take over `socket`: from now on only the muxer reads and writes it.
   * Sends MAX_STREAMS at once and starts the keep-alive/idle timer.
   */
  constructor(socket: Duplex, options: MuxerOptions) {
    this.socket = socket
    this.logger = options.logger
    this.inboundGate = options.inboundGate
    // Windows travel as u32 deltas; keep them well inside that range.
    this.initialWindow = clamp(options.initialWindow ?? DEFAULT_INITIAL_WINDOW, 1, MAX_WINDOW)
    this.maxWindow = clamp(options.maxWindow ?? DEFAULT_MAX_WINDOW, this.initialWindow, MAX_WINDOW)
    this.extraWindow = Math.max(0, this.initialWindow - INITIAL_WINDOW)
    // One pair of callbacks for the writer and liveness (per connection, so kept small).
    const isOpen = (): boolean => this.state === OPEN
    const onOverrun = (error: LimitExceededError): void => this.overrun(error)
    this.writer = new FrameWriter({
      socket,
      maxControl: clamp(Math.floor(options.maxQueuedControlFrames ?? DEFAULT_MAX_QUEUED_CONTROL), 16, 0x7fff_ffff),
      isOpen,
      onOverrun,
    })
    this.opener = new StreamOpener(this, options.direction === 'outbound' ? 1 : 2)
    const maxInbound = clamp(Math.floor(options.limits.maxInboundStreams), 0, 0x7fff_ffff)
    this.acceptor = new StreamAcceptor(options.direction, maxInbound, this.writer, options.logger)
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve
    })
    this.liveness = new Liveness({
      writer: this.writer,
      limits: options.limits,
      logger: options.logger,
      isOpen,
      onIdle: () => this.shutdown({ code: CloseCode.IDLE_TIMEOUT, reason: 'idle timeout', remote: false }, true),
      onOverrun,
    })

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
    this.acceptor.start()
    this.liveness.start()
  }

  /** Bytes written to the socket, headers included. */
  get bytesSent(): number {
    return this.writer.sent
  }

  /** Bytes read from the socket. */
  get bytesReceived(): number {
    return this.received
  }

  /** When bytes last arrived from the peer (`performance.now()` clock). */
  get lastReceivedAt(): number {
    return this.liveness.lastReceived
  }

  /** Smoothed round-trip time from pings and keep-alives, in ms; 0 until one completes. */
  get rtt(): number {
    return this.liveness.srtt
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
    return this.opener.open(options)
  }

  /**
   * Register the handler for streams the peer opens. Streams that arrived
   * before are delivered now, in order. A handler that throws resets its stream.
   */
  onStream(handler: (stream: TransportStream) => void): void {
    this.acceptor.onStream(handler)
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

  /**
   * The connection carrying this muxer's byte stream closed with `info` (a
   * muxer over one stream of another connection, e.g. QUIC's message
   * channel): fail every stream and waiter with that close, send nothing
   * more, and destroy the byte stream. Idempotent.
   */
  abort(info: CloseInfo): void {
    if (this.state === OPEN) {
      this.writer.drop()
      this.shutdown(info, false)
    }
    if (!this.socket.destroyed) this.socket.destroy()
  }

  /** Round-trip time to the peer in ms, measured with a PING frame. */
  ping(): Promise<number> {
    if (this.state !== OPEN) return Promise.reject(this.closedError())
    return this.liveness.ping()
  }

  // ---- StreamHost: called by streams. ----

  /** @internal */
  get writable(): boolean {
    return this.writer.writable
  }

  /** @internal */
  get growInterval(): number {
    return this.liveness.growInterval
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
    if (first) flags |= this.opener.sync(stream)
    this.writer.push(FrameType.DATA, flags, stream.id, payload.length, payload)
    if (first && stream.bidirectional) this.grantExtraWindow(stream)
  }

  /** The peer may send the protocol's initial window; a larger configured one is granted right after SYN. */
  private grantExtraWindow(stream: MuxStream): void {
    const extra = this.extraWindow
    if (extra === 0) return
    stream.recvCredit += extra
    this.writer.queueControl(FrameType.WINDOW_UPDATE, 0, stream.id, extra)
  }

  /** @internal */
  sendReset(stream: MuxStream, code: number): void {
    if (this.state !== OPEN) return
    const flags = Flag.RST | (stream.synSent ? 0 : this.opener.sync(stream))
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
    if (stream.direction !== 'inbound') return
    if (this.state === OPEN) this.acceptor.finished()
    this.inboundGate?.release()
  }

  // ---- OpenerHost: called by the StreamOpener. ----

  /** @internal */
  createStream(id: number, bidirectional: boolean): MuxStream {
    const stream = new MuxStream(this, id, 'outbound', bidirectional, this.initialWindow, performance.now())
    this.streams.set(id, stream)
    return stream
  }

  /** @internal */
  sendSyn(stream: MuxStream, flags: number): void {
    this.writer.push(FrameType.DATA, flags, stream.id, 0, EMPTY)
    if (stream.bidirectional) this.grantExtraWindow(stream)
  }

  // ---- Incoming bytes. ----

  private readonly onSocketData = (chunk: Buffer): void => {
    // After a close began, drain and ignore the socket so it can end cleanly.
    if (this.state !== OPEN) return
    this.received += chunk.length
    this.liveness.lastReceived = performance.now()
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
        if ((flags & Flag.ACK) !== 0) this.liveness.onPong(length)
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
        this.opener.raiseLimit(length)
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
      this.acceptor.open(id)
      if ((flags & Flag.RST) !== 0) {
        // Opened and reset before anything else: just count it as finished.
        this.acceptor.finished()
        return
      }
      // Created while handling a read: its time is the read's (saves a clock read per stream).
      stream = new MuxStream(this, id, 'inbound', (flags & Flag.UNI) === 0, this.initialWindow, this.liveness.lastReceived)
      if (this.inboundGate !== undefined && !this.inboundGate.admit()) {
        // Past the shared bound: refused before anyone sees it. Not in the map, so
        // `streamDone` skips it and its later frames are ignored as stale.
        stream.reset(StreamResetCode.REFUSED)
        this.acceptor.finished()
        return
      }
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
      this.acceptor.accepted(stream)
    }
  }

  /** A frame for a stream not in the map: fine if the stream existed (late frame), an error if it never did. */
  private checkStale(id: number, what: string): void {
    const known = this.acceptor.isRemoteId(id) ? this.acceptor.wasOpened(id) : this.opener.wasOpened(id)
    if (!known) throw new ProtocolError(`${what} for unknown stream ${id}`)
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
      const reason = encodeReason(info.reason)
      // Bypass `queueControl`, which refuses frames once closing.
      this.writer.enqueue(FrameType.GO_AWAY, 0, info.code >>> 0, reason.length, reason)
    }
    this.state = CLOSING
    this.closeInfo = info

    // Both carry the close, so a stream's reader learns why at once (e.g. the core's handshake seeing a refusal).
    const connectionError = new ConnectionClosedError(
      `Connection closed${info.remote ? ' by peer' : ''}: ${info.reason || `code ${info.code}`}`,
      info.code,
      info.error === undefined ? { closeInfo: info } : { cause: info.error, closeInfo: info },
    )
    const streamError = new StreamResetError(connectionError.message, info.code, info.remote, { closeInfo: info })
    for (const stream of this.streams.values()) stream.onConnectionClosed(streamError)
    this.streams.clear()
    this.opener.fail(connectionError)
    this.liveness.stop(connectionError)

    // Last flush (GO_AWAY among it), ignoring backpressure; then fail the writers' waiters.
    this.writer.finish(connectionError)

    if (this.socketClosed) return
    this.socket.end()
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT)
    this.closeTimer.unref()
  }

  private closedError(): ConnectionClosedError {
    const info = this.closeInfo
    return new ConnectionClosedError(
      `Connection closed: ${info?.reason || `code ${info?.code ?? 0}`}`,
      info?.code ?? 0,
      info === undefined ? undefined : { closeInfo: info },
    )
  }
}

function clamp(value: number, min: number, max: number): number {
  return Number.isNaN(value) ? min : Math.min(max, Math.max(min, value))
}
