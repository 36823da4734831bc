import type { TLSSocket } from 'node:tls'
import { type CloseInfo, CloseCode, type Direction, type Logger, type RemotePeer, type TransportLimits, shortPeerId } from '@crust/core'
import { MuxedConnection, Muxer } from '@crust/mux'
import { RelayError } from './errors.js'
import { circuitEndReason } from './protocol.js'
import type { StreamDuplex } from '@crust/core/plugin'

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
 * A connection through a relay, as a `TransportConnection`: TLS 1.3
 * between the two ends (the relay forwards ciphertext) with `@crust/mux` on
 * top, exactly as the TCP transport runs over a socket.
 * When a direct connection replaces it, the core retires it only after the
 * calls in flight on it have finished.
 */
export class RelayedConnection extends MuxedConnection {
  readonly id = `relay-${++nextId}`
  readonly transport = RELAY_TRANSPORT
  readonly method = 'relayed' as const
  /** The relay's peer id. */
  readonly relayPeerId: string

  private readonly duplex: StreamDuplex
  /** Set when the relay connection closed under this one: how it ends, whatever the muxer saw. */
  private readonly ending: { relayLost?: CloseInfo }

  constructor(parts: RelayedParts) {
    const muxer = new Muxer(parts.socket, { direction: parts.direction, limits: parts.limits, logger: parts.logger })
    const { duplex } = parts
    const ending: { relayLost?: CloseInfo } = {}
    super({
      muxer,
      direction: parts.direction,
      remotePeer: parts.remotePeer,
      remoteAddress: relayAddress(parts.relayPeerId, parts.remotePeer.peerId),
      localAddress: relayAddress(parts.relayPeerId, parts.localPeerId),
      closed: muxer.closed.then((info) => {
        duplex.destroy()
        const carrier = duplex.carrierClosed
        return ending.relayLost ?? (carrier === undefined ? describeClose(info, duplex.remoteResetCode, parts.relayPeerId) : relayLost(carrier, parts.relayPeerId))
      }),
    })
    this.relayPeerId = parts.relayPeerId
    this.duplex = duplex
    this.ending = ending
  }

  /**
   * Close; a path declared lost (`CloseCode.PATH_LOST`) is torn down at once:
   * an orderly close would wait (the muxer's close timeout) for a peer that
   * cannot answer, and the node reconnects only once this one has closed.
   */
  override async close(options?: { code?: number; reason?: string }): Promise<void> {
    const closing = super.close(options)
    if (options?.code === CloseCode.PATH_LOST) this.duplex.destroy()
    await closing
  }

  /**
   * Close at once because the connection to the relay carrying this one
   * closed (`info`): its calls fail now rather than at the idle timeout. A
   * relay whose path was lost, or that died, makes this path lost too
   * (`CloseCode.PATH_LOST`, with a {@link RelayError} `relay-lost`), so the
   * node reconnects through another relay or directly.
   */
  relayClosed(info: CloseInfo): void {
    const lost = relayLost(info, this.relayPeerId)
    this.ending.relayLost ??= lost
    void super.close({ code: lost.code, reason: lost.reason })
    // The relay is gone: nothing is flushed through it, the muxer's close completes now.
    this.duplex.destroy()
  }
}

/** How a relayed connection ends when the connection to its relay closed (`carrier`): its path is lost. */
function relayLost(carrier: CloseInfo, relayPeerId: string): CloseInfo {
  const ownShutdown = carrier.code === CloseCode.SHUTDOWN && !carrier.remote
  const reason = `relay ${shortPeerId(relayPeerId)} connection closed: ${carrier.reason || `code ${carrier.code}`}`
  const error = new RelayError('relay-lost', reason, { relay: relayPeerId, cause: carrier.error })
  return { code: ownShutdown ? CloseCode.SHUTDOWN : CloseCode.PATH_LOST, reason, remote: false, error }
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
