import type { CloseInfo, Direction, Logger, TransportLimits } from '@crust/core'
import { type InboundGate, Muxer } from '@crust/mux'
import type { QUICConnection } from '@crust/quic-lib'
import type { QuicStream } from './quic-stream.js'
import { StreamDuplex } from '@crust/core/plugin'

/**
 * ALPN of Crust over QUIC with the message channel. Offered before
 * {@link PLAIN_ALPN}, so two nodes that both have it use it, and a node
 * without it still talks to one that has it (every stream native then).
 */
export const CHANNEL_ALPN = 'crust/2'
/** ALPN of Crust over QUIC with native streams only. */
export const PLAIN_ALPN = 'crust/1'

/**
 * Largest message (payload and header) that goes over the message channel
 * instead of a QUIC stream of its own. Larger ones, and byte streams, keep
 * native streams, so a big transfer never blocks small messages behind it,
 * nor, under loss, behind its retransmissions.
 */
export const CHANNEL_MAX_MESSAGE = 16 * 1024

/**
 * The message channel: one long-lived bidirectional QUIC stream (the
 * dialler's first, id 0) carrying a `@crust/mux` muxer, over which small
 * messages (requests, sends and their answers) travel as mux streams.
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
 * Liveness (keep-alive, idle timeout) stays QUIC's: the muxer's own is off.
 * The peer's mux streams and its QUIC streams share one bound,
 * `maxInboundStreams` (`inboundGate`).
 */
export class MessageChannel {
  readonly muxer: Muxer
  private readonly duplex: StreamDuplex

  constructor(
    stream: QuicStream,
    direction: Direction,
    options: { maxInboundStreams: number; handshakeTimeout: number; inboundGate: InboundGate; logger: Logger },
  ) {
    this.duplex = new StreamDuplex(stream)
    this.muxer = new Muxer(this.duplex, {
      direction,
      limits: { idleTimeout: 0, keepAliveInterval: 0, handshakeTimeout: options.handshakeTimeout, maxInboundStreams: options.maxInboundStreams },
      logger: options.logger,
      inboundGate: options.inboundGate,
    })
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
    this.muxer.abort(info)
  }
}

/** The message channel's settings for a connection, when its handshake negotiated {@link CHANNEL_ALPN}. */
export function channelFor(
  connection: QUICConnection,
  limits: TransportLimits,
): { channel?: { maxInboundStreams: number; handshakeTimeout: number } } {
  const alpn = Buffer.from(connection.conn.applicationProto()).toString('latin1')
  return alpn === CHANNEL_ALPN ? { channel: { maxInboundStreams: limits.maxInboundStreams, handshakeTimeout: limits.handshakeTimeout } } : {}
}
