import type { CloseInfo, Direction, RemotePeer, TransportConnection, TransportStream } from '@crust/core'
import type { Muxer } from './muxer.js'

/** What a {@link MuxedConnection} is made of. */
export interface MuxedConnectionParts {
  /** The muxer over the connection's authenticated byte stream (a TLS socket, or a stream over one). */
  readonly muxer: Muxer
  readonly direction: Direction
  readonly remotePeer: RemotePeer
  /** The remote end in the transport's address form, e.g. `tcp://203.0.113.5:4001`. */
  readonly remoteAddress: string
  /** The local end, same form. */
  readonly localAddress: string
  /**
   * How the connection reports its close, when the transport knows more than
   * the muxer (a TLS failure, a relay cutting the circuit); `muxer.closed`
   * otherwise. It must settle once `muxer.closed` does and never reject.
   */
  readonly closed?: Promise<CloseInfo>
}

/**
 * A byte stream with a {@link Muxer} on top, as a {@link TransportConnection}:
 * what every transport that carries `@crust/mux` (TCP, the relay, a
 * WebSocket one) hands the core. A subclass names its `id` and `transport`
 * and builds the muxer; streams, close and ping go straight to the muxer.
 */
export abstract class MuxedConnection implements TransportConnection {
  /** Unique id for logs, e.g. `tcp-3`. */
  abstract readonly id: string
  /** The transport's id, e.g. `tcp`. */
  abstract readonly transport: string
  readonly direction: Direction
  readonly remotePeer: RemotePeer
  readonly remoteAddress: string
  readonly localAddress: string
  readonly closed: Promise<CloseInfo>
  /** The muxer every call goes to. */
  protected readonly muxer: Muxer

  constructor(parts: MuxedConnectionParts) {
    this.muxer = parts.muxer
    this.direction = parts.direction
    this.remotePeer = parts.remotePeer
    this.remoteAddress = parts.remoteAddress
    this.localAddress = parts.localAddress
    this.closed = parts.closed ?? parts.muxer.closed
  }

  /** When bytes last arrived from the peer (`performance.now()` clock): the core's dead-path detection counts it. */
  get lastReceivedAt(): number {
    return this.muxer.lastReceivedAt
  }

  /** The mux's smoothed RTT (ms) from its pings and keep-alives; 0 until one was answered. */
  get rtt(): number {
    return this.muxer.rtt
  }

  openStream(options: { bidirectional: boolean; signal?: AbortSignal }): Promise<TransportStream> {
    return this.muxer.openStream(options)
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.muxer.onStream(handler)
  }

  async close(options?: { code?: number; reason?: string }): Promise<void> {
    await this.muxer.close(options)
  }

  /** Round-trip time of a mux ping, in ms. */
  ping(): Promise<number> {
    return this.muxer.ping()
  }
}
