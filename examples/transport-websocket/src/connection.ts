import type { TLSSocket } from 'node:tls'
import type { CloseInfo, Direction, Logger, RemotePeer, TransportConnection, TransportLimits, TransportStream } from '@crust/core'
import { Muxer } from '@crust/mux'
import { type WebSocket, createWebSocketStream } from 'ws'
import { SCHEME, addressOf } from './addresses.js'

let nextId = 0

/** What the muxer of a connection needs from the transport's components. */
export interface MuxSettings {
  readonly limits: TransportLimits
  readonly logger: Logger
}

/**
 * A WebSocket carrying the `@crust/mux` byte stream, as a
 * {@link TransportConnection}. Each WebSocket binary message holds whatever
 * the muxer wrote in one go; message boundaries mean nothing to it.
 */
export class WebSocketConnection implements TransportConnection {
  readonly id = `ws-${++nextId}`
  readonly transport = SCHEME
  readonly remoteAddress: string
  readonly localAddress: string
  readonly closed: Promise<CloseInfo>
  private readonly muxer: Muxer

  /** Take over the open WebSocket `ws`, whose TLS socket `tls` authenticated `remotePeer`. */
  constructor(
    ws: WebSocket,
    tls: TLSSocket,
    readonly direction: Direction,
    readonly remotePeer: RemotePeer,
    options: MuxSettings,
  ) {
    this.remoteAddress = addressOf(tls.remoteAddress, tls.remotePort)
    this.localAddress = addressOf(tls.localAddress, tls.localPort)
    this.muxer = new Muxer(createWebSocketStream(ws), { direction, limits: options.limits, logger: options.logger })
    this.closed = this.muxer.closed
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
}

/**
 * Refuse an open WebSocket whose peer failed authentication: send GO_AWAY
 * with `code` and `reason` over a muxer, so the peer learns why, and close.
 */
export function refuse(ws: WebSocket, direction: Direction, code: number, reason: string, options: MuxSettings): void {
  const muxer = new Muxer(createWebSocketStream(ws), { direction, limits: options.limits, logger: options.logger })
  void muxer.close({ code, reason })
}
