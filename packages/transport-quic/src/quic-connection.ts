import {
  AbortError,
  CloseCode,
  type CloseInfo,
  ConnectionClosedError,
  type Direction,
  type Logger,
  type RemotePeer,
  TimeoutError,
  type TransportConnection,
  type TransportStream,
} from '@crust/core'
import { type QUICConnection, type QUICStream, events } from '@matrixai/quic'
import { closeInfoOf, encodeReason } from './codes.js'
import { type ConnectionInternals, connectionInternals } from './internals.js'
import { QuicStream } from './quic-stream.js'
import { StreamCredit } from './stream-credit.js'

let nextId = 0

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
  readonly logger: Logger
}

/**
 * An authenticated `@matrixai/quic` connection as the contract's
 * {@link TransportConnection}: QUIC streams become {@link QuicStream}s,
 * `close()` is a QUIC application close carrying the Crust code and reason,
 * and `closed` reports how it ended, read from quiche's own close state.
 */
export class QuicConnection implements TransportConnection {
  readonly id = `quic-${++nextId}`
  readonly transport = 'quic'
  readonly direction: Direction
  readonly remotePeer: RemotePeer
  readonly remoteAddress: string
  readonly localAddress: string
  readonly closed: Promise<CloseInfo>
  private readonly quic: QUICConnection
  private readonly internals: ConnectionInternals
  private readonly stopConnection: StopConnection
  private readonly credit = new StreamCredit()
  private readonly logger: Logger
  private handler: ((stream: TransportStream) => void) | undefined
  private early: QuicStream[] = []
  private closing: Promise<void> | undefined
  private info: CloseInfo | undefined

  constructor(parts: QuicConnectionParts) {
    this.quic = parts.connection
    this.internals = connectionInternals(parts.connection)
    this.stopConnection = parts.stop
    this.direction = parts.direction
    this.remotePeer = parts.remotePeer
    this.remoteAddress = parts.remoteAddress
    this.localAddress = parts.localAddress
    this.logger = parts.logger
    this.closed = this.quic.closedP.then(() => this.settle())
    this.watchCredit()
    this.quic.addEventListener(events.EventQUICConnectionStream.name, (event: Event) => {
      this.incoming((event as events.EventQUICConnectionStream).detail)
    })
    // Streams the peer opened while the handshake finished, before we listened.
    for (const stream of this.internals.streamMap.values()) if (stream.initiated === 'peer') this.incoming(stream)
  }

  /**
   * Open a stream, waiting (not failing) while the peer's stream credit is
   * used up; rejects with `AbortError` on `signal`, `ConnectionClosedError`
   * once the connection is closing.
   */
  async openStream(options: { bidirectional: boolean; signal?: AbortSignal }): Promise<TransportStream> {
    const { bidirectional, signal } = options
    for (;;) {
      if (signal?.aborted) throw new AbortError()
      const conn = this.internals.conn
      if (this.closing !== undefined || this.info !== undefined || conn.isDraining() || conn.isClosed()) throw this.closedError()
      const left = bidirectional ? conn.peerStreamsLeftBidi() : conn.peerStreamsLeftUni()
      if (left > 0) {
        let stream: QUICStream
        try {
          stream = this.quic.newStream(bidirectional ? 'bidi' : 'uni')
        } catch (error) {
          throw new ConnectionClosedError(`cannot open a stream: ${(error as Error).message}`, CloseCode.INTERNAL, { cause: error })
        }
        return new QuicStream(stream)
      }
      await this.credit.wait(signal)
    }
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler
    const early = this.early
    this.early = []
    for (const stream of early) handler(stream)
  }

  async close(options: { code?: number; reason?: string } = {}): Promise<void> {
    const code = options.code ?? CloseCode.NORMAL
    this.closing ??= this.stopConnection({ isApp: true, errorCode: code, reason: encodeReason(options.reason ?? ''), force: true }).catch(
      (error: unknown) => this.logger.debug(`${this.id}: close: ${(error as Error).message}`),
    )
    await this.closing
    await this.closed
  }

  /** Round-trip time quiche measured on the active path, in ms. */
  get rtt(): number {
    const path = this.internals.conn.pathStats()[0]
    return path === undefined ? Number.NaN : path.rtt / 1000
  }

  private incoming(stream: QUICStream): void {
    const adapted = new QuicStream(stream)
    if (this.handler) this.handler(adapted)
    else this.early.push(adapted) // bounded by the stream credit we grant
  }

  /** Re-check stream credit after each datagram while an `openStream` waits for MAX_STREAMS. */
  private watchCredit(): void {
    const internals = this.internals
    const recv = internals.recv
    const credit = this.credit
    const quic = this.quic
    internals.recv = (data, remote) => {
      const done = recv.call(quic, data, remote)
      if (credit.waiting) void done.then(() => credit.recheck(), () => credit.recheck())
      return done
    }
  }

  private settle(): CloseInfo {
    if (this.info) return this.info
    const conn = this.internals.conn
    const local = conn.localError()
    const peer = conn.peerError()
    let info: CloseInfo
    if (local) info = closeInfoOf(local, false)
    else if (peer) info = closeInfoOf(peer, true)
    else if (conn.isTimedOut()) {
      info = {
        code: CloseCode.IDLE_TIMEOUT,
        reason: 'nothing received from the peer within the idle timeout',
        remote: false,
        error: new TimeoutError('QUIC idle timeout'),
      }
    } else info = { code: CloseCode.INTERNAL, reason: 'connection closed', remote: false }
    this.info = info
    this.credit.fail(this.closedError())
    for (const stream of this.early.splice(0)) stream.reset(0)
    return info
  }

  private closedError(): ConnectionClosedError {
    const info = this.info
    return info
      ? new ConnectionClosedError(`connection closed: ${info.reason || 'no reason given'}`, info.code)
      : new ConnectionClosedError('connection is closing', CloseCode.NORMAL)
  }
}
