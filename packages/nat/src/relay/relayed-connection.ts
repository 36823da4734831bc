import type { TLSSocket } from 'node:tls'
import {
  type CloseInfo,
  CloseCode,
  type Direction,
  type Logger,
  type RemotePeer,
  type TransportConnection,
  type TransportLimits,
  type TransportStream,
  shortPeerId,
} from '@crust/core'
import { Muxer } from '@crust/mux'
import { RelayError } from './errors.js'
import { circuitEndReason } from './protocol.js'
import type { StreamDuplex } from './stream-duplex.js'

/** Transport id of relayed connections. */
export const RELAY_TRANSPORT = 'relay'

let nextId = 0

/** The address form of a relayed connection's ends: `relay://<relay peer id>/<peer id>`. */
export function relayAddress(relayPeerId: string, peerId: string): string {
  return `${RELAY_TRANSPORT}://${relayPeerId}/${peerId}`
}

/** What a {@link RelayedConnection} is made of. */
export interface RelayedParts {
  /** The end-to-end TLS socket, running over `duplex`. */
  readonly socket: TLSSocket
  /** The relay's protocol stream as a Duplex. */
  readonly duplex: StreamDuplex
  readonly direction: Direction
  readonly remotePeer: RemotePeer
  readonly localPeerId: string
  readonly relayPeerId: string
  readonly limits: TransportLimits
  readonly logger: Logger
}

/**
 * A connection through a relay, as a {@link TransportConnection}: TLS 1.3
 * between the two ends (the relay forwards ciphertext) with `@crust/mux` on
 * top, exactly as the TCP transport runs over a socket.
 * When a direct connection replaces it, the core retires it only after the
 * calls in flight on it have finished.
 */
export class RelayedConnection implements TransportConnection {
  readonly id = `relay-${++nextId}`
  readonly transport = RELAY_TRANSPORT
  readonly method = 'relayed' as const
  readonly direction: Direction
  readonly remotePeer: RemotePeer
  readonly remoteAddress: string
  readonly localAddress: string
  readonly closed: Promise<CloseInfo>
  /** The relay's peer id. */
  readonly relayPeerId: string
  private readonly muxer: Muxer

  constructor(parts: RelayedParts) {
    this.direction = parts.direction
    this.remotePeer = parts.remotePeer
    this.relayPeerId = parts.relayPeerId
    this.remoteAddress = relayAddress(parts.relayPeerId, parts.remotePeer.peerId)
    this.localAddress = relayAddress(parts.relayPeerId, parts.localPeerId)
    this.muxer = new Muxer(parts.socket, { direction: parts.direction, limits: parts.limits, logger: parts.logger })
    const { duplex } = parts
    this.closed = this.muxer.closed.then((info) => {
      duplex.destroy()
      return describeClose(info, duplex.remoteResetCode, parts.relayPeerId)
    })
  }

  openStream(options: { bidirectional: boolean; signal?: AbortSignal }): Promise<TransportStream> {
    return this.muxer.openStream(options)
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.muxer.onStream(handler)
  }

  close(options?: { code?: number; reason?: string }): Promise<void> {
    return this.muxer.close(options)
  }

  /** Round-trip time of a mux ping through the relay, in ms. */
  ping(): Promise<number> {
    return this.muxer.ping()
  }
}

/** The close info, with the relay's reason when it was the relay that cut the circuit. */
function describeClose(info: CloseInfo, resetCode: number | undefined, relayPeerId: string): CloseInfo {
  const reason = resetCode === undefined ? undefined : circuitEndReason(resetCode)
  if (reason === undefined) return info
  const text = `relay ${shortPeerId(relayPeerId)} ended the circuit: ${reason}`
  const error = new RelayError(reason, text, { relay: relayPeerId, cause: info.error })
  const code =
    reason === 'bytes-exceeded' || reason === 'duration-exceeded'
      ? CloseCode.LIMIT_REACHED
      : reason === 'shutdown'
        ? CloseCode.SHUTDOWN
        : CloseCode.INTERNAL
  return { code, reason: text, remote: true, error }
}
