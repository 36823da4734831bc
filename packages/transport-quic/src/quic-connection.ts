import {
  AbortError,
  CloseCode,
  type CloseInfo,
  ConnectionClosedError,
  type Direction,
  type Logger,
  type RemotePeer,
  StreamResetCode,
  TimeoutError,
  type TransportConnection,
  type TransportStream,
} from '@crust/core'
import { errorMessage, normalizeIp } from '@crust/core/plugin'
import { type QUICConnection, type QUICServerAttempt, type QUICStream, events } from '@crust/quic-lib'
import { closeInfoOf, encodeReason } from './codes.js'
import { CHANNEL_MAX_MESSAGE, type ChannelOptions, MAX_PEER_CHANNELS, MessageChannel, StreamKind } from './message-channel.js'
import { InboundStreams } from './inbound-streams.js'
import type { KeepAliveMember } from './keep-alive.js'
import { QuicStream } from './quic-stream.js'
import { StreamCredit } from './stream-credit.js'

let nextId = 0

/** Most a graceful close waits for what was written to be acknowledged (also bounded by the idle timeout). */
export const FLUSH_TIMEOUT_MS = 2000

/**
 * Closes after which nothing the application wrote matters, or whose point
 * is to be immediate: these reset streams and close at once. Every other
 * close (NORMAL, SHUTDOWN, DUPLICATE, PRUNED, ...) is graceful: it first
 * waits, bounded, until what was written is acknowledged, as TCP's does.
 */
const ABRUPT: ReadonlySet<number> = new Set([
  CloseCode.PATH_LOST,
  CloseCode.IDLE_TIMEOUT,
  CloseCode.HANDSHAKE_TIMEOUT,
  CloseCode.AUTH_FAILED,
  CloseCode.BLACKLISTED,
  CloseCode.NETWORK_MISMATCH,
  CloseCode.PROTOCOL_ERROR,
  CloseCode.LIMIT_REACHED,
  CloseCode.INTERNAL,
])

const byId = (a: QuicStream, b: QuicStream): number => a.id - b.id

/** How the owner stops the library connection (a `QUICClient` is destroyed, a server connection stopped). */
export type StopConnection = (options: { isApp: boolean; errorCode: number; reason: Uint8Array; force: boolean }) => Promise<void>

/** What a {@link QuicConnection} is made of. */
export interface QuicConnectionParts {
  readonly connection: QUICConnection
  readonly stop: StopConnection
  readonly direction: Direction
  readonly remotePeer: RemotePeer
  readonly remoteAddress: string
  readonly localAddress: string
  /** The core's `idleTimeout` (ms, 0 = off): close with IDLE_TIMEOUT, telling the peer, after this long without a datagram. */
  readonly idleTimeout: number
  /** QUIC's `max_idle_timeout` as configured on this side (ms; see `livenessOf`). */
  readonly maxIdleTimeout: number
  readonly logger: Logger
  /**
   * The peer's streams open at once at most, native and message channel
   * together (see `inbound-streams.ts`).
   */
  readonly maxInboundStreams: number
  /**
   * Both sides negotiated message channels (ALPN `crust/3`): small messages
   * travel as mux streams over a QUIC stream each end opens when it needs
   * one, and every bidirectional stream starts with its kind byte (see
   * `message-channel.ts`).
   */
  readonly channel?: ChannelOptions
}

/**
 * An authenticated `@matrixai/quic` connection as the contract's
 * {@link TransportConnection}: QUIC streams become {@link QuicStream}s,
 * `close()` is a QUIC application close carrying the Crust code and reason,
 * and `closed` reports how it ended, read from quiche's own close state.
 */
export class QuicConnection implements TransportConnection, KeepAliveMember {
  readonly id = `quic-${++nextId}`
  readonly transport = 'quic'
  readonly direction: Direction
  readonly remotePeer: RemotePeer
  readonly remoteAddress: string
  readonly localAddress: string
  readonly closed: Promise<CloseInfo>
  private readonly quic: QUICConnection
  private readonly stopConnection: StopConnection
  private readonly credit = new StreamCredit()
  private readonly logger: Logger
  private handler: ((stream: TransportStream) => void) | undefined
  private early: QuicStream[] = []
  private closing: Promise<void> | undefined
  private info: CloseInfo | undefined
  private readonly idleTimeout: number
  private readonly maxIdleTimeout: number
  /** Stream writes not yet accepted by quiche, across this connection's streams. */
  private readonly writes = { pending: 0 }
  private readonly settleClosed: () => void
  private lastReceived = performance.now()
  private idleTimer: NodeJS.Timeout | undefined
  /** The message channels' settings when negotiated. */
  private readonly channelOptions: ChannelOptions | undefined
  /** The channel our small messages go over, while open. */
  private ownChannel: MessageChannel | undefined
  /** Channels of ours closed for idleness whose close has not completed: the peer still counts them. */
  private ownClosing = 0
  /** The peer's channels, at most {@link MAX_PEER_CHANNELS}. */
  private readonly peerChannels = new Set<MessageChannel>()
  /** The peer's open streams, native and mux, against `maxInboundStreams`. */
  private readonly inbound: InboundStreams

  constructor(parts: QuicConnectionParts) {
    this.inbound = new InboundStreams(parts.maxInboundStreams)
    this.quic = parts.connection
    this.stopConnection = parts.stop
    this.direction = parts.direction
    this.remotePeer = parts.remotePeer
    this.remoteAddress = parts.remoteAddress
    this.localAddress = parts.localAddress
    this.logger = parts.logger
    this.idleTimeout = parts.idleTimeout
    this.maxIdleTimeout = parts.maxIdleTimeout
    // Closed as soon as a close is sent or received: quiche's draining period
    // (3 PTO: seconds on a path whose RTT varied) only absorbs the peer's late
    // packets, and goes on in the library after this.
    let settled!: () => void
    this.closed = new Promise<void>((resolve) => (settled = resolve)).then(() => this.settle())
    this.settleClosed = settled
    void this.quic.closedP.then(settled)
    this.quic.addEventListener(events.EventQUICConnectionClose.name, settled, { once: true })
    this.channelOptions = parts.channel
    this.watchReceive()
    this.armIdleTimer(this.idleTimeout)
    this.quic.addEventListener(events.EventQUICConnectionStream.name, (event: Event) => {
      this.incoming((event as events.EventQUICConnectionStream).detail)
    })
    // Streams the peer opened while the handshake finished, before we listened.
    for (const stream of this.quic.streamMap.values()) if (stream.initiated === 'peer') this.incoming(stream)
  }

  /**
   * Open a stream, waiting (not failing) while the peer's stream credit is
   * used up; rejects with `AbortError` on `signal`, `ConnectionClosedError`
   * once the connection is closing.
   */
  async openStream(options: { bidirectional: boolean; signal?: AbortSignal; messageBytes?: number }): Promise<TransportStream> {
    const { bidirectional, signal } = options
    // Over our channel, unless the peer still counts as many of ours as it allows (closes not yet through):
    // then the message takes a plain stream rather than a channel the peer would refuse.
    const viaChannel =
      this.channelOptions !== undefined &&
      bidirectional &&
      options.messageBytes !== undefined &&
      options.messageBytes <= CHANNEL_MAX_MESSAGE &&
      (this.ownChannel !== undefined || this.ownClosing < MAX_PEER_CHANNELS - 1)
    // Under crust/3 the peer's bidirectional credit has MAX_PEER_CHANNELS more than its stream bound, for our
    // channels; plain streams leave that room, so they never pass the bound and are never refused for it.
    const reserve = this.channelOptions !== undefined && bidirectional && !viaChannel ? MAX_PEER_CHANNELS : 0
    for (;;) {
      if (signal?.aborted) throw new AbortError()
      const conn = this.quic.conn
      if (this.closing !== undefined || this.info !== undefined || conn.isDraining() || conn.isClosed()) throw this.closedError()
      if (viaChannel) {
        const channel = this.ownChannel ?? this.openChannel()
        if (channel !== undefined) return channel.openStream({ bidirectional, signal })
      }
      const left = bidirectional ? conn.peerStreamsLeftBidi() : conn.peerStreamsLeftUni()
      if (!viaChannel && left > reserve) {
        let stream: QUICStream
        try {
          stream = this.quic.newStream(bidirectional ? 'bidi' : 'uni')
        } catch (error) {
          throw new ConnectionClosedError(`cannot open a stream: ${errorMessage(error)}`, CloseCode.INTERNAL, { cause: error })
        }
        return new QuicStream(stream, this.writes, bidirectional ? this.plainKind : undefined)
      }
      // No credit for a channel, or none past the room kept for channels: wait for MAX_STREAMS.
      await this.credit.wait(signal)
    }
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler
    for (const channel of this.peerChannels) channel.muxer.onStream(handler)
    this.ownChannel?.muxer.onStream(handler)
    const early = this.early.sort(byId)
    this.early = []
    for (const stream of early) handler(stream)
  }

  /**
   * Close with `code`. A graceful close (any code but a refusal, a timeout
   * or PATH_LOST) first waits until what was written was handed to quiche
   * and acknowledged by the peer, at most {@link FLUSH_TIMEOUT_MS} (or the
   * idle timeout if shorter): an answer or acknowledgement written just
   * before arrives. Then streams still open are reset and the close is sent.
   */
  async close(options: { code?: number; reason?: string } = {}): Promise<void> {
    const code = options.code ?? CloseCode.NORMAL
    this.closing ??= (ABRUPT.has(code) ? Promise.resolve() : this.flushed())
      .then(() =>
        this.stopConnection({ isApp: true, errorCode: code, reason: encodeReason(options.reason ?? ''), force: true }),
      )
      .catch((error: unknown) => this.logger.debug(`${this.id}: close: ${errorMessage(error)}`))
      .finally(this.settleClosed)
    // The close is sent when `closed` settles; the library drains in the background.
    await this.closed
  }

  /**
   * Resolve once nothing written is unsent or unacknowledged, the connection
   * closed, or the bound passed. quiche does not expose bytes in flight, but
   * its next timeout tells: while ack-eliciting packets are unacknowledged
   * it is the loss-detection (PTO) timer, otherwise the idle timer, which
   * is never earlier than the idle timeout after the last datagram received.
   */
  private async flushed(): Promise<void> {
    const bound = this.idleTimeout > 0 ? Math.min(FLUSH_TIMEOUT_MS, this.idleTimeout) : FLUSH_TIMEOUT_MS
    const deadline = performance.now() + bound
    // Frames the channels' muxers queued this turn are handed to their streams first.
    await Promise.all(this.channels().map((channel) => channel.whenMuxerFlushed().catch(() => {})))
    for (;;) {
      const conn = this.quic.conn
      if (this.info !== undefined || conn.isDraining() || conn.isClosed()) return
      const now = performance.now()
      if (now >= deadline) return
      // `sendPending`: quiche may hold frames the library sends within two event-loop turns (an ACK it
      // holds for our answer, data an ACK just let out); until they leave, nothing in flight proves nothing.
      if (this.writes.pending === 0 && this.channels().every((channel) => channel.flushed) && !this.quic.sendPending) {
        const next = conn.timeout()
        const peerIdle = conn.stats().peerMaxIdleTimeout
        const idle = peerIdle > 0 ? Math.min(this.maxIdleTimeout, peerIdle) : this.maxIdleTimeout
        // 50 ms of slack: the clocks of quiche and of this process are read at different moments.
        if (next === null || next >= idle - (now - this.lastReceived) - 50) return
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(5, deadline - now)))
    }
  }

  /**
   * A short-header datagram for no known connection id came from `remote`:
   * if that is this connection's peer, it may be the peer's stateless reset
   * (RFC 9000 §10.3), whose connection id is random. quiche recognises its
   * token and closes the connection; anything else it drops. Only dialled
   * connections: quiche 0.18 checks only a server's token.
   */
  offerStatelessReset(data: Buffer, remote: QUICServerAttempt['remoteInfo']): void {
    if (this.direction !== 'outbound' || this.info !== undefined) return
    if (this.quic.remotePort !== remote.port || normalizeIp(this.quic.remoteHost) !== normalizeIp(remote.host)) return
    // A copy: quiche removes header protection in place, and other connections may check the same datagram.
    this.quic.recv(Buffer.from(data), remote).catch(() => {})
  }

  /** When the last datagram of this connection arrived (`performance.now()` clock): the core's dead-path detection counts it. */
  get lastReceivedAt(): number {
    return this.lastReceived
  }

  /** Send a PING now (the transport's keep-alive timer found the connection quiet). */
  ping(): void {
    const conn = this.quic.conn
    if (this.closing !== undefined || this.info !== undefined || conn.isDraining() || conn.isClosed()) return
    conn.sendAckEliciting()
    this.quic.send().catch(() => {})
  }

  /** Round-trip time quiche measured on the active path, in whole ms (the binding rounds it down: 0 on a fast loopback). */
  get rtt(): number {
    try {
      const path = this.quic.conn.pathStats()[0]
      // Milliseconds already: on loopback it reads 4-7 while pings over the same connection take 2.5-11 ms.
      return path === undefined ? Number.NaN : path.rtt
    } catch {
      return Number.NaN // the native connection is gone (closed): nothing measured any more
    }
  }

  /**
   * A stream the peer opened. quiche lists readable streams in no particular
   * order, so the streams of one burst are handed over together, by id (the
   * order the peer opened them in).
   */
  private incoming(stream: QUICStream): void {
    const wrapped = new QuicStream(stream, this.writes)
    if (!this.inbound.admit()) {
      // quiche's credit alone would let the peer hold this many QUIC streams besides its mux streams.
      wrapped.reset(StreamResetCode.REFUSED)
      return
    }
    stream.addEventListener(events.EventQUICStreamDestroyed.name, this.releaseInbound, { once: true })
    if (this.channelOptions !== undefined && stream.type === 'bidi') void this.classify(stream, wrapped, this.channelOptions)
    else this.hand(wrapped)
  }

  private hand(stream: QuicStream): void {
    this.arrived.push(stream)
    if (this.arrived.length === 1) queueMicrotask(this.handOver)
  }

  /**
   * A bidirectional stream of the peer under `crust/3` says with its first
   * byte what it is: plain streams go to the core, a channel gets a muxer.
   * Until that byte arrives (bounded by the handshake timeout) the stream
   * counts against `maxInboundStreams` like any other.
   */
  private async classify(stream: QUICStream, wrapped: QuicStream, options: ChannelOptions): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), options.handshakeTimeout)
    })
    const kind = await Promise.race([wrapped.readKind(), late])
    clearTimeout(timer)
    if (kind === StreamKind.PLAIN) {
      this.hand(wrapped)
      return
    }
    if (kind === StreamKind.CHANNEL && this.info === undefined && this.peerChannels.size < MAX_PEER_CHANNELS) {
      // A channel's own stream is not one of the peer's streams: its mux streams are.
      stream.removeEventListener(events.EventQUICStreamDestroyed.name, this.releaseInbound)
      this.inbound.release()
      this.startPeerChannel(wrapped, options)
      return
    }
    // Ended or reset before its kind (nothing to hand over), silent too long, a kind we do not know, or a channel too many.
    wrapped.reset(kind === 'late' || kind === StreamKind.CHANNEL ? StreamResetCode.REFUSED : StreamResetCode.PROTOCOL_ERROR)
  }

  private arrived: QuicStream[] = []

  private readonly releaseInbound = (): void => this.inbound.release()

  /** The peer's streams open now on this connection, native and message channel together (at most `maxInboundStreams`). */
  get inboundStreams(): number {
    return this.inbound.open
  }

  /** Our channel for small messages, opened now; undefined while the peer grants no stream credit. */
  private openChannel(): MessageChannel | undefined {
    const options = this.channelOptions as ChannelOptions
    if (this.quic.conn.peerStreamsLeftBidi() <= 0) return undefined
    let stream: QUICStream
    try {
      stream = this.quic.newStream('bidi')
    } catch {
      return undefined // closing: the native path reports it
    }
    const channel: MessageChannel = new MessageChannel(new QuicStream(stream, this.writes, StreamKind.CHANNEL), true, {
      ...options,
      inboundGate: this.inbound,
      logger: this.logger,
      onIdle: () => {
        this.ownChannel = undefined
        this.ownClosing++
      },
    })
    this.ownChannel = channel
    // Closed while ours (the peer or the connection ended it), or at the end of its idle close.
    void channel.closed.then(() => {
      if (this.ownChannel === channel) this.ownChannel = undefined
      else this.ownClosing--
    })
    if (this.handler !== undefined) channel.muxer.onStream(this.handler)
    return channel
  }

  private startPeerChannel(stream: QuicStream, options: ChannelOptions): void {
    const channel = new MessageChannel(stream, false, { ...options, inboundGate: this.inbound, logger: this.logger })
    this.peerChannels.add(channel)
    void channel.closed.then(() => this.peerChannels.delete(channel))
    if (this.handler !== undefined) channel.muxer.onStream(this.handler)
  }

  /** Message channels open now: ours (0 or 1) and the peer's (at most {@link MAX_PEER_CHANNELS}). */
  get openChannels(): { readonly own: number; readonly peer: number } {
    return { own: this.ownChannel === undefined ? 0 : 1, peer: this.peerChannels.size }
  }

  private channels(): MessageChannel[] {
    const all = [...this.peerChannels]
    if (this.ownChannel !== undefined) all.push(this.ownChannel)
    return all
  }

  /** The kind byte our bidirectional plain streams start with, under `crust/3`. */
  private get plainKind(): number | undefined {
    return this.channelOptions === undefined ? undefined : StreamKind.PLAIN
  }

  private readonly handOver = (): void => {
    const arrived = this.arrived.sort(byId)
    this.arrived = []
    if (this.handler === undefined) {
      this.early.push(...arrived) // bounded by the stream credit we grant
      return
    }
    for (const stream of arrived) this.handler(stream)
  }

  /**
   * Observe every datagram: note when the peer was last heard from (idle
   * timeout), and re-check stream credit while an `openStream` waits for
   * MAX_STREAMS (the library has no event for either; its `onRecv` hook
   * sees every datagram).
   */
  private watchReceive(): void {
    const credit = this.credit
    this.quic.onRecv = (processed) => {
      this.lastReceived = performance.now()
      if (credit.waiting) void processed.then(() => credit.recheck(), () => credit.recheck())
    }
  }

  /**
   * The core's idle timeout, enforced here rather than by QUIC alone: QUIC's
   * idle timeout closes silently, so a live peer would never learn why. This
   * closes with IDLE_TIMEOUT, which the peer receives if it is still there;
   * quiche's own idle timeout (set a little longer) remains the backstop.
   */
  private armIdleTimer(delay: number): void {
    if (this.idleTimeout <= 0) return
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.closing !== undefined || this.info !== undefined) return
      const quiet = performance.now() - this.lastReceived
      if (quiet + 1 < this.idleTimeout) {
        this.armIdleTimer(this.idleTimeout - quiet)
        return
      }
      void this.close({ code: CloseCode.IDLE_TIMEOUT, reason: `nothing received for ${this.idleTimeout} ms` })
    }, Math.max(1, Math.ceil(delay)))
    this.idleTimer.unref?.()
  }

  /** How the connection closed, as quiche knows it now: from the moment a close is sent or received, before draining ends. */
  private closeSoFar(): CloseInfo | undefined {
    const conn = this.quic.conn
    const local = conn.localError()
    if (local) return closeInfoOf(local, false)
    const peer = conn.peerError()
    return peer ? closeInfoOf(peer, true) : undefined
  }

  private settle(): CloseInfo {
    if (this.info) return this.info
    const conn = this.quic.conn
    let info: CloseInfo
    const known = this.closeSoFar()
    if (known) info = known
    else if (conn.isClosed() && !conn.isTimedOut()) {
      // Closed by quiche with neither a close sent nor received: the peer's stateless reset.
      info = {
        code: CloseCode.PATH_LOST,
        reason: 'stateless reset: the peer no longer has this connection (it restarted or dropped it)',
        remote: true,
      }
    } else if (conn.isTimedOut()) {
      info = {
        code: CloseCode.IDLE_TIMEOUT,
        reason: 'nothing received from the peer within the idle timeout',
        remote: false,
        error: new TimeoutError('QUIC idle timeout'),
      }
    } else info = { code: CloseCode.INTERNAL, reason: 'connection closed', remote: false }
    this.info = info
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    for (const channel of this.channels()) channel.abort(info)
    this.credit.fail(() => this.closedError())
    for (const stream of this.early.splice(0)) stream.reset(0)
    return info
  }

  private closedError(): ConnectionClosedError {
    const info = this.info ?? this.closeSoFar()
    return info
      ? new ConnectionClosedError(`connection closed: ${info.reason || 'no reason given'}`, info.code, { closeInfo: info })
      : new ConnectionClosedError('connection is closing', CloseCode.NORMAL)
  }
}
