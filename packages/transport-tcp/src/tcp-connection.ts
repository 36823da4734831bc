import type { TLSSocket } from 'node:tls'
import {
  type CloseInfo,
  type Direction,
  type RemotePeer,
  type TransportConnection,
  type TransportStream,
  formatAddress,
  normalizeIp,
} from '@crust/core'
import type { Muxer } from '@crust/mux'
import { classifyClose } from './tls-errors.js'

let nextId = 0

/** A TLS 1.3 socket with a {@link Muxer} on top, as a {@link TransportConnection}. */
export class TcpConnection implements TransportConnection {
  readonly id = `tcp-${++nextId}`
  readonly transport = 'tcp'
  readonly remoteAddress: string
  readonly localAddress: string
  readonly closed: Promise<CloseInfo>

  constructor(
    socket: TLSSocket,
    private readonly muxer: Muxer,
    readonly direction: Direction,
    readonly remotePeer: RemotePeer,
  ) {
    this.remoteAddress = formatAddress('tcp', normalizeIp(socket.remoteAddress ?? ''), socket.remotePort ?? 0)
    this.localAddress = formatAddress('tcp', normalizeIp(socket.localAddress ?? ''), socket.localPort ?? 0)
    this.closed = muxer.closed.then(classifyClose)
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
