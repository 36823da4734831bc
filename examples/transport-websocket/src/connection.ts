import type { TLSSocket } from 'node:tls'
import type { Direction, Logger, RemotePeer, TransportLimits } from '@crust/core'
import { MuxedConnection, Muxer } from '@crust/mux'
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
 * `TransportConnection`. Each WebSocket binary message holds whatever
 * the muxer wrote in one go; message boundaries mean nothing to it.
 */
export class WebSocketConnection extends MuxedConnection {
  readonly id = `ws-${++nextId}`
  readonly transport = SCHEME

  /** Take over the open WebSocket `ws`, whose TLS socket `tls` authenticated `remotePeer`. */
  constructor(ws: WebSocket, tls: TLSSocket, direction: Direction, remotePeer: RemotePeer, options: MuxSettings) {
    super({
      muxer: new Muxer(createWebSocketStream(ws), { direction, limits: options.limits, logger: options.logger }),
      direction,
      remotePeer,
      remoteAddress: addressOf(tls.remoteAddress, tls.remotePort),
      localAddress: addressOf(tls.localAddress, tls.localPort),
    })
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
