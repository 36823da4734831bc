/**
 * The last step of every connection, inbound or outbound: a handshaken
 * transport connection becomes a pooled `Connection` (after a slot is made
 * for it), its streams are served, simultaneous opens are resolved, and the
 * application hears of it.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import { Connection, type ConnectionSettings } from '../connection/connection.js'
import type { HandshakeInfo } from '../connection/handshake.js'
import { type ServeContext, serveStream } from '../connection/incoming.js'
import { type ConnectionBudget, type MessageBudget, createMessageBudget } from '../connection/message-budget.js'
import { PathWatch } from '../connection/path-watch.js'
import { SequencedInbox } from '../connection/sequenced.js'
import { Tokens } from '../di/tokens.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import { CloseCode, type ConnectionMethod, type TransportConnection, type TransportStream } from '../transport/types.js'
import type { Admission } from './admission.js'
import { asError } from '../error-text.js'
import { type KeepAlive, closePathLost } from './keep-alive.js'
import type { PeerPresence } from './peer-presence.js'
import type { PeerReports } from './peer-reports.js'
import type { ConnectionPool } from './pool.js'
import type { Registrar } from './registrar.js'
import type { TransportHost } from './transport-host.js'

/** Senders whose delivered peer-addressed messages are remembered (least recently heard forgotten first). */
export const INBOX_SENDERS = 4096
/** Answer bytes kept per sender so a resent `node.request` gets its answer without running twice. */
export const INBOX_ANSWER_BYTES = 1024 * 1024
/** The same, all senders together: many senders cannot make the node keep more than this. */
export const INBOX_ANSWER_BYTES_TOTAL = 64 * 1024 * 1024

/** Least and most time a pooled connection has to answer when a newcomer contests it (ms). */
const CONTEST_MIN_MS = 1_000
const CONTEST_MAX_MS = 3_000

/** Turns handshaken transport connections into pooled, served connections. */
@injectable()
export class Establisher {
  private readonly settings: ConnectionSettings
  /** Connections the application was told about (`connection:open`), so it hears of their close too. */
  private readonly announced = new WeakSet<Connection>()
  /** The addresses each connected peer claims it can be dialled at (from its handshake). */
  private readonly claimed = new WeakMap<Connection, readonly string[]>()
  /** Which peer-addressed messages each sender had delivered (bounded: see `SequencedInbox`). */
  private readonly inbox = new SequencedInbox({
    maxSenders: INBOX_SENDERS,
    maxAnswerBytes: INBOX_ANSWER_BYTES,
    maxAnswerBytesTotal: INBOX_ANSWER_BYTES_TOTAL,
  })
  /** The node-wide budget for partly received messages, made on first use. */
  private messageBudget: MessageBudget | undefined

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Pool) private readonly pool: ConnectionPool,
    @inject(Tokens.Admission) private readonly admission: Admission,
    @inject(Tokens.Registrar) private readonly registrar: Registrar,
    @inject(Tokens.PeerReports) private readonly reports: PeerReports,
    @inject(Tokens.TransportHost) private readonly transports: TransportHost,
    @inject(Tokens.PeerPresence) private readonly presence: PeerPresence,
    @inject(Tokens.KeepAlive) private readonly keepAlive: KeepAlive,
    @inject(Tokens.Metrics) metrics: NodeMetrics,
  ) {
    const pathWatch = new PathWatch<Connection>(
      config.connection.pathTimeout,
      (connection, silentMs) => this.pathLost(connection, silentMs),
      (connection) => this.keepAlive.suspect(connection),
    )
    this.settings = {
      maxMessageSize: config.maxMessageSize,
      requestTimeout: config.connection.requestTimeout,
      pathWatch,
      onRtt: (ms) => metrics.observeRtt(ms),
    }
  }

  /**
   * Wrap a handshaken connection, pool it (resolving simultaneous opens), and
   * start serving its streams. Returns the pooled connection for its peer.
   * `setRoute` takes the stream router when the caller already listens for
   * streams (inbound); `method` is how the path was made, as this side knows it.
   * @throws ConnectionLimitError when the node is full and nothing can be pruned (the connection is closed).
   */
  establish(
    transportConnection: TransportConnection,
    remote: HandshakeInfo,
    setRoute?: (serve: (stream: TransportStream) => void) => void,
    method?: ConnectionMethod,
  ): Connection {
    this.admission.pending.delete(transportConnection)
    try {
      this.admission.makeRoom(transportConnection.remotePeer.peerId)
    } catch (error) {
      void transportConnection.close({ code: CloseCode.LIMIT_REACHED, reason: asError(error).message })
      throw error
    }
    const connection = new Connection(transportConnection, this.settings)
    connection.remoteSession = remote.session
    connection.race = parseRace(remote.race)
    connection.remoteIdleTimeout = remote.idle
    connection.remoteProtocols = remote.protocols ?? []
    connection.setPath({
      remoteRole: remote.role,
      // Inbound: what the listener decided (`method`). Outbound: the transport's own say, else the listener's answer, else our hint.
      method:
        transportConnection.direction === 'inbound'
          ? (method ?? 'direct')
          : (transportConnection.method ?? remote.method ?? method ?? 'direct'),
    })
    this.claimed.set(connection, remote.addresses ?? [])
    if (transportConnection.direction === 'outbound') {
      connection.setPath({ observedAddress: remote.observed })
      this.transports.externalAddresses.record(transportConnection.transport, connection.peerId, remote.observed)
    }
    const context: ServeContext = {
      maxMessageSize: this.settings.maxMessageSize,
      budget: this.connectionBudget(),
      dispatch: (message) => this.registrar.dispatch(message),
      report: (error, fault) => this.reports.peerError(connection, error, fault),
      protocol: (protocolStream) => this.registrar.serveProtocol(protocolStream, connection),
      inbox: this.inbox,
      handlesMessages: (protocol) => this.registrar.handlesMessages(protocol),
      appStream: (protocol, stream, rest) => this.registrar.serveAppStream(protocol, stream, rest, connection),
    }
    const serve = (stream: TransportStream): void => void serveStream(stream, connection, context)
    if (setRoute) setRoute(serve)
    else transportConnection.onStream(serve)
    const peerId = connection.peerId
    const { winner, loser } = this.pool.add(connection)
    void transportConnection.closed.then((info) => {
      const wasPooled = this.pool.get(peerId) === connection
      this.pool.remove(connection)
      this.settings.pathWatch?.forget(connection)
      this.keepAlive.forget(connection)
      if (this.announced.has(connection)) {
        this.logger.debug(`connection to ${peerId} closed: ${info.reason} (code ${info.code})`)
        this.events.emit('connection:close', { connection, peerId, ...info })
      }
      if (wasPooled && this.pool.get(peerId) === undefined) this.presence.disconnected(peerId, info, this.reachableAt(connection))
    })
    this.keepAlive.track(connection)
    if (loser === undefined) {
      this.announce(connection)
      this.presence.connected(connection)
    } else if (winner === connection) {
      this.replace(loser, connection)
    } else {
      // The newcomer lost the tie-break to the pooled connection: unless that one is dead.
      void this.contest(winner, connection)
    }
    return winner
  }

  /**
   * A newcomer lost the tie-break (a relayed connection against a direct
   * one, or the other side of a simultaneous open) to the pooled connection.
   * A peer that dials while we still hold a connection may know better: its
   * side of that connection may have died unseen by us (a NAT mapping that
   * moved, a path that went silent). So the pooled one must answer a ping
   * before it is kept: liveness before method. If it does not, the newcomer
   * takes its place and the silent one is closed as `PATH_LOST`.
   */
  private async contest(pooled: Connection, newcomer: Connection): Promise<void> {
    const rtt = pooled.stats.rtt ?? 0
    const timeout = Math.max(CONTEST_MIN_MS, Math.min(4 * rtt, CONTEST_MAX_MS))
    const alive = await pooled.ping({ timeout }).then(
      () => true,
      () => false,
    )
    if (alive || this.pool.get(pooled.peerId) !== pooled) {
      this.replace(newcomer, pooled)
      return
    }
    this.pool.replace(pooled, newcomer)
    this.announce(newcomer)
    pooled.replaceWith(newcomer)
    this.logger.info(`connection to ${pooled.peerId} (${pooled.method}) did not answer while a new one (${newcomer.method}) arrived: replaced`)
    void pooled.transportConnection.close({ code: CloseCode.PATH_LOST, reason: `path lost: no answer within ${timeout} ms while a new connection arrived` })
  }

  /** `loser` gives way to `winner`: calls move over, and it closes once its own are done. */
  private replace(loser: Connection, winner: Connection): void {
    loser.replaceWith(winner)
    const reason = loser.method === 'relayed' ? 'replaced by a direct connection' : 'simultaneous open: another connection won'
    void loser.retire(CloseCode.DUPLICATE, reason, this.config.connection.requestTimeout)
    this.announce(winner)
  }

  /** Tell the application about `connection`, once. */
  private announce(connection: Connection): void {
    if (this.announced.has(connection)) return
    this.announced.add(connection)
    this.events.emit('connection:open', { connection })
  }

  /** Dead-path detection gave up on `connection`: close it, so its calls fail now and the pool can replace it. */
  private pathLost(connection: Connection, silentMs: number): void {
    const reason = `path lost: nothing heard from the peer for ${Math.round(silentMs)} ms while waiting for it`
    this.keepAlive.pathLost(connection, connection.waitingSince - connection.lastHeardAt())
    this.keepAlive.pathDied(connection)
    closePathLost(connection, reason, this.logger)
  }

  /** Where `connection`'s peer can be dialled again: what it claimed, and the address we reached it at directly. */
  reachableAt(connection: Connection): string[] {
    const addresses = [...this.claimedAddresses(connection)]
    if (connection.direction === 'outbound' && connection.method === 'direct') addresses.push(connection.remoteAddress)
    return addresses
  }

  /** The addresses a peer told us it can be dialled at, in its handshake. */
  claimedAddresses(connection: Connection): readonly string[] {
    return this.claimed.get(connection) ?? []
  }

  /** A new connection's share of the node-wide budget for partly received messages. */
  private connectionBudget(): ConnectionBudget {
    if (this.messageBudget === undefined) this.messageBudget = createMessageBudget(this.config)
    return this.messageBudget.forConnection()
  }
}

/** The handshake's `race` tag (`node.dial.attempt`, already checked by its schema). */
function parseRace(race: string | undefined): Connection['race'] {
  if (race === undefined) return undefined
  const [node = '', dial = '0', attempt = '0'] = race.split('.')
  return { node, dial: Number(dial), attempt: Number(attempt) }
}
