/**
 * What the node says about peers that were refused or misbehaved: events for
 * the application, log lines throttled per kind, and the misbehaviour tally
 * that disconnects a peer past `connection.maxProtocolErrors`.
 */
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import type { Connection } from '../connection/connection.js'
import { Tokens } from '../di/tokens.js'
import { BlacklistedError, ConnectionLimitError, LimitExceededError, ProtocolError, TimeoutError } from '../errors.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import { type NodeMetrics, errorCode } from '../metrics/node-metrics.js'
import { CloseCode } from '../transport/types.js'
import { asError } from '../error-text.js'
import { ReportThrottle } from './report-throttle.js'
import type { RunState } from './run-state.js'

/** Reports of one kind logged and emitted one by one per `reportInterval`; the rest are summarised. */
const REPORTS_PER_INTERVAL = 10

/** Refusals, peer errors and misbehaviour, reported without letting a flood of them flood the log. */
@injectable()
export class PeerReports {
  /** Collapses floods of refusals and peer errors into one summary line per interval. */
  private readonly throttle: ReportThrottle
  /** Protocol errors per connection in the current minute, for `maxProtocolErrors`. */
  private readonly protocolErrors = new WeakMap<Connection, { count: number; since: number }>()

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Metrics) private readonly metrics: NodeMetrics,
    @inject(Tokens.RunState) private readonly state: RunState,
  ) {
    this.throttle = new ReportThrottle(config.reportInterval, REPORTS_PER_INTERVAL, (kind, count, ms) =>
      this.logger.warn(`${count} more ${kind} in the last ${Math.round(ms / 1000)} s (not logged one by one)`),
    )
  }

  /** A connection was refused or failed before it was established. */
  rejected(direction: 'inbound' | 'outbound', remoteAddress: string, error: Error, peerId?: string): void {
    // Every refusal is an event (each cost the peer a connection, and applications count them), but a
    // flood of them (e.g. junk handshakes) is a few log lines and one summary per interval.
    this.events.emit('connection:rejected', { direction, remoteAddress, peerId, error })
    if ((error instanceof ConnectionLimitError || error instanceof LimitExceededError) && error.limit !== undefined) this.limitHit(error.limit)
    if (!this.throttle.admit(`${direction} refusals (${error.name})`)) return
    // Routine refusals (blacklist, limits) stay below the default level, and so does what a
    // stopping (or stopped) node refuses or loses mid-handshake, e.g. a peer's reachability dial-back.
    const routine = error instanceof BlacklistedError || error instanceof ConnectionLimitError
    const level = !this.state.running ? 'debug' : routine ? 'info' : 'warn'
    this.logger[level](`${direction} connection ${remoteAddress} refused: ${error.message}`, {
      peerId,
      address: remoteAddress,
      direction,
      code: errorCode(error),
    })
  }

  /**
   * Something went wrong on a stream of `connection`: the peer's bad bytes
   * (`fault` `'peer'`) or our own handler (`'local'`). Reports are throttled,
   * and a peer that keeps misbehaving (`maxProtocolErrors` within a minute)
   * is disconnected.
   */
  peerError(connection: Connection, error: unknown, fault: 'peer' | 'local' = 'peer'): void {
    const err = asError(error)
    if (fault === 'peer' && isMisbehaviour(err)) this.countMisbehaviour(connection)
    if (fault === 'peer' && err instanceof LimitExceededError) this.limitHit(err.limit)
    if (!this.throttle.admit(`peer errors (${err.name})`)) return
    this.logger.info(`peer ${connection.peerId}: ${err.message}`, { peerId: connection.peerId, code: errorCode(err) })
    this.events.emit('error', { error: err, context: fault === 'peer' ? 'incoming stream' : 'handler', peerId: connection.peerId })
  }

  /** This node refused something at `limit` (a config name, e.g. `protocol.maxStreamsPerPeer`): counted in `crust_limits_hit_total`. */
  limitHit(limit: string): void {
    this.metrics.limitHit(limit)
  }

  /** Summarise what was held back (the node stops). */
  flush(): void {
    this.throttle.flush()
  }

  /** Count a protocol violation; past `maxProtocolErrors` within a minute, disconnect the peer. */
  private countMisbehaviour(connection: Connection): void {
    const now = Date.now()
    let tally = this.protocolErrors.get(connection)
    if (tally === undefined || now - tally.since > 60_000) {
      tally = { count: 0, since: now }
      this.protocolErrors.set(connection, tally)
    }
    tally.count++
    const limit = this.config.connection.maxProtocolErrors
    if (tally.count !== limit + 1) return
    const reason = `too many protocol errors (over ${limit} within a minute)`
    this.logger.info(`disconnecting ${connection.peerId}: ${reason}`)
    void connection.transportConnection.close({ code: CloseCode.PROTOCOL_ERROR, reason })
  }
}

/**
 * What counts against `maxProtocolErrors`: bytes that break the protocol, and
 * messages that overran a budget or stalled past their deadline. Not a peer
 * cancelling its own send (a stream reset), which honest peers do.
 */
function isMisbehaviour(error: Error): boolean {
  return error instanceof ProtocolError || error instanceof LimitExceededError || error instanceof TimeoutError
}
