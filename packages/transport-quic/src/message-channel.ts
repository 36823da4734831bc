import type { CloseInfo, Direction, Logger, TransportLimits, TransportStream } from '@crust/core'
import { CloseCode } from '@crust/core'
import { type InboundGate, Muxer } from '@crust/mux'
import type { QUICConnection } from '@crust/quic-lib'
import type { QuicStream } from './quic-stream.js'
import { StreamDuplex } from '@crust/core/plugin'

/**
 * ALPN of Crust over QUIC with message channels opened on demand. Offered
 * before {@link PLAIN_ALPN}, so two nodes that both have it use it, and a
 * node without it still talks to one that has it (every stream native then).
 * (`crust/2`, a channel open for the connection's life as the dialler's
 * stream 0, is no longer offered: a node that has only it and `crust/1`
 * talks `crust/1` with this one.)
 */
export const CHANNEL_ALPN = 'crust/3'
/** ALPN of Crust over QUIC with native streams only. */
export const PLAIN_ALPN = 'crust/1'

/**
 * Under {@link CHANNEL_ALPN} the opener of a bidirectional stream sends one
 * byte first, saying what the stream is: a plain stream (the contract's
 * stream, bytes as written) or a message channel. Unidirectional streams
 * carry no such byte: they are always plain.
 */
export const StreamKind = { PLAIN: 0, CHANNEL: 1 } as const

/**
 * Largest message (payload and header) that goes over a message channel
 * instead of a QUIC stream of its own. Larger ones, and byte streams, keep
 * native streams, so a big transfer never blocks small messages behind it,
 * nor, under loss, behind its retransmissions.
 */
export const CHANNEL_MAX_MESSAGE = 16 * 1024

/**
 * Channels of the peer open at once at most: its current one and one it
 * closed whose end has not arrived yet. A further one is refused.
 */
export const MAX_PEER_CHANNELS = 2

/** What a message channel needs besides its stream. */
export interface ChannelOptions {
  readonly maxInboundStreams: number
  readonly handshakeTimeout: number
  /** Ms an own channel stays open without a message before it is closed (see {@link MessageChannel}). */
  readonly idleTimeout: number
}

/**
 * A message channel: one bidirectional QUIC stream carrying a `@crust/mux`
 * muxer, over which small messages (requests, sends and their answers)
 * travel as mux streams.
 *
 * Why: a QUIC stream of the library costs far more than the bytes of a
 * small message (Web Streams, events, a lifecycle lock and timers per
 * stream; ~300 µs of CPU per request on each side). A mux stream costs a
 * 12-byte frame header and a few objects, and the frames of one event-loop
 * turn leave in one QUIC stream write. The price: the channel is one
 * ordered byte stream, so a lost datagram holds up every message behind it
 * on the channel until it is retransmitted (head-of-line blocking, as over
 * TCP); streams outside the channel are unaffected.
 *
 * Each end sends its own messages over a channel it opened itself, when the
 * first one needs it; the peer answers them on the same mux streams. The
 * opener closes its channel once it has carried no mux stream for
 * `idleTimeout`: an open channel costs ~17 KB of heap and ~27 KB of RSS on
 * each end, so an idle connection holds none. Only the opener opens mux
 * streams on a channel and only it closes it, so a close never races a
 * message: it comes when every message of the channel was answered, and the
 * next message opens a new channel.
 *
 * Liveness (keep-alive, idle timeout) stays QUIC's: the muxer's own is off.
 * The peer's mux streams and its QUIC streams share one bound,
 * `maxInboundStreams` (`inboundGate`).
 */
export class MessageChannel {
  readonly muxer: Muxer
  private readonly duplex: StreamDuplex
  private idleTimer: NodeJS.Timeout | undefined
  /** Mux streams opened since the idle timer last looked. */
  private opened = 0

  /**
   * @param own - we opened it: we open mux streams on it and close it when
   *   idle (`onIdle` is called first, so the next message opens a new one).
   */
  constructor(
    stream: QuicStream,
    readonly own: boolean,
    private readonly options: ChannelOptions & { inboundGate: InboundGate; logger: Logger; onIdle?: () => void },
  ) {
    this.duplex = new StreamDuplex(stream)
    const direction: Direction = own ? 'outbound' : 'inbound'
    this.muxer = new Muxer(this.duplex, {
      direction,
      limits: { idleTimeout: 0, keepAliveInterval: 0, handshakeTimeout: options.handshakeTimeout, maxInboundStreams: options.maxInboundStreams },
      logger: options.logger,
      inboundGate: options.inboundGate,
    })
    if (own) this.armIdleTimer()
    void this.muxer.closed.then(() => {
      if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    })
  }

  /** Open a mux stream for one small message (own channels only). */
  openStream(options: { bidirectional: boolean; signal?: AbortSignal }): Promise<TransportStream> {
    this.opened++
    return this.muxer.openStream(options)
  }

  /** Settles once the channel closed, for any reason. */
  get closed(): Promise<CloseInfo> {
    return this.muxer.closed
  }

  /** Nothing written to the channel is still queued in the muxer or on its way to quiche. */
  get flushed(): boolean {
    // A write handed to quiche but not yet accepted counts in `writableLength` until its callback.
    return this.duplex.writableLength === 0
  }

  /** Resolves once the muxer handed every queued frame to the channel's stream. */
  whenMuxerFlushed(): Promise<void> {
    return this.muxer.whenFlushed()
  }

  /** The QUIC connection closed with `info`: fail the channel's streams with it. */
  abort(info: CloseInfo): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.muxer.abort(info)
  }

  /**
   * Every `idleTimeout`: close the channel if it carried no mux stream in
   * that time and none is open (every message answered).
   */
  private armIdleTimer(): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.opened > 0 || this.muxer.streamCount > 0) {
        this.opened = 0
        this.armIdleTimer()
        return
      }
      this.options.onIdle?.()
      // GO_AWAY and FIN: the peer's muxer ends its side too, and the QUIC stream is freed on both ends.
      void this.muxer.close({ code: CloseCode.NORMAL, reason: 'message channel idle' })
    }, this.options.idleTimeout)
    this.idleTimer.unref?.()
  }
}

/** The message channel's settings for a connection, when its handshake negotiated {@link CHANNEL_ALPN}. */
export function channelFor(connection: QUICConnection, limits: TransportLimits, idleTimeout: number): { channel?: ChannelOptions } {
  const alpn = Buffer.from(connection.conn.applicationProto()).toString('latin1')
  return alpn === CHANNEL_ALPN
    ? { channel: { maxInboundStreams: limits.maxInboundStreams, handshakeTimeout: limits.handshakeTimeout, idleTimeout } }
    : {}
}
