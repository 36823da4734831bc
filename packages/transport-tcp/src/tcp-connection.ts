import type { TLSSocket } from 'node:tls'
import type { Direction, RemotePeer } from '@crust/core'
import { formatAddress, normalizeIp } from '@crust/core/plugin'
import { MuxedConnection, type Muxer } from '@crust/mux'
import { classifyClose } from './tls-errors.js'

let nextId = 0

/** A TLS 1.3 socket with a {@link Muxer} on top, as a `TransportConnection`. */
export class TcpConnection extends MuxedConnection {
  readonly id = `tcp-${++nextId}`
  readonly transport = 'tcp'

  constructor(socket: TLSSocket, muxer: Muxer, direction: Direction, remotePeer: RemotePeer) {
    super({
      muxer,
      direction,
      remotePeer,
      remoteAddress: formatAddress('tcp', normalizeIp(socket.remoteAddress ?? ''), socket.remotePort ?? 0),
      localAddress: formatAddress('tcp', normalizeIp(socket.localAddress ?? ''), socket.localPort ?? 0),
      closed: muxer.closed.then(classifyClose),
    })
  }
}
