/**
 * The node's own metrics (see the metrics table in the core README): made
 * once per node on its {@link MetricsRecorder}. What the node keeps anyway
 * (the pool, each connection's byte and message counts, the traversal
 * reports) is read when the backend is scraped; only events that leave no
 * state behind (a dial failed, a limit refused something, a ping answered)
 * are recorded as they happen, and none of them is on the data path.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection/connection.js'
import { isCrustError } from '../errors.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { TraversalStatus } from '../service/types.js'
import type { CounterMetric, HistogramMetric, MetricsRecorder } from './types.js'

/** RTT buckets (seconds): loopback to intercontinental and slow relays. */
const RTT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/** Byte and message totals of connections that closed. */
interface Totals {
  bytesSent: number
  bytesReceived: number
  messagesSent: number
  messagesReceived: number
}

/** Records the core's metrics for one node. */
export class NodeMetrics {
  /** Dials started by `connect` (shared dials count once). */
  private readonly dials: CounterMetric
  private readonly dialFailures: CounterMetric
  private readonly limits: CounterMetric
  private readonly rtt: HistogramMetric
  private readonly open = new Set<Connection>()
  private readonly closed: Totals = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0 }

  constructor(
    /** The backend, for plugins to register their own metrics on. */
    readonly recorder: MetricsRecorder,
    events: TypedEmitter<NodeEvents>,
    enabled: boolean,
  ) {
    this.dials = recorder.counter('crust_dials_total', { help: 'Outbound dials started by connect (concurrent connects to one peer share one)' })
    this.dialFailures = recorder.counter('crust_dial_failures_total', {
      help: 'Outbound dials that failed, by the error code of the reason',
      labels: ['reason'],
    })
    this.limits = recorder.counter('crust_limits_hit_total', {
      help: "Connections, streams and messages this node refused at one of its limits, by the limit's config name",
      labels: ['limit'],
    })
    this.rtt = recorder.histogram('crust_rtt_seconds', {
      help: 'Round-trip times the core measured (pings, keep-alive and dead-path probes)',
      buckets: RTT_BUCKETS,
    })
    recorder.observeGauge(
      'crust_connections',
      { help: 'Open connections, by transport, how the path was made, and who dialled', labels: ['transport', 'method', 'direction'] },
      (observe) => {
        const counts = new Map<string, { labels: Record<string, string>; count: number }>()
        for (const connection of this.open) {
          const labels = { transport: connection.transport, method: connection.method, direction: connection.direction }
          const key = `${labels.transport} ${labels.method} ${labels.direction}`
          const entry = counts.get(key)
          if (entry === undefined) counts.set(key, { labels, count: 1 })
          else entry.count++
        }
        for (const { labels, count } of counts.values()) observe(count, labels)
      },
    )
    const total = (field: keyof Totals): number => {
      let sum = this.closed[field]
      for (const connection of this.open) sum += connection.stats[field]
      return sum
    }
    recorder.observeCounter(
      'crust_bytes_total',
      { help: 'Payload bytes of messages, answers and protocol streams, by direction (in, out)', labels: ['direction'] },
      (observe) => {
        observe(total('bytesReceived'), { direction: 'in' })
        observe(total('bytesSent'), { direction: 'out' })
      },
    )
    recorder.observeCounter(
      'crust_messages_total',
      { help: 'Messages and answers, by direction (in, out)', labels: ['direction'] },
      (observe) => {
        observe(total('messagesReceived'), { direction: 'in' })
        observe(total('messagesSent'), { direction: 'out' })
      },
    )
    if (!enabled) return // the no-op backend never collects: keep no connection set
    events.on('connection:open', ({ connection }) => this.open.add(connection))
    events.on('connection:close', ({ connection }) => {
      if (!this.open.delete(connection)) return
      const { stats } = connection
      this.closed.bytesSent += stats.bytesSent
      this.closed.bytesReceived += stats.bytesReceived
      this.closed.messagesSent += stats.messagesSent
      this.closed.messagesReceived += stats.messagesReceived
    })
    events.on('dial:failed', ({ code }) => this.dialFailures.inc({ reason: code }))
  }

  /** A `connect` started a dial. */
  dialStarted(): void {
    this.dials.inc()
  }

  /** This node refused something at `limit` (its config name, e.g. `connection.maxInboundPerIp`). */
  limitHit(limit: string): void {
    this.limits.inc({ limit })
  }

  /** A ping answered after `ms`. */
  observeRtt(ms: number): void {
    this.rtt.observe(ms / 1000)
  }

  /** Report each traversal mechanism's state (`stun`, `upnp`, ...) as `crust_nat_status{kind,state} 1`. */
  watchTraversal(status: () => TraversalStatus): void {
    this.recorder.observeGauge(
      'crust_nat_status',
      { help: 'What each traversal service last reported (1 for its current state), by kind and state', labels: ['kind', 'state'] },
      (observe) => {
        for (const report of Object.values(status())) observe(1, { kind: report.kind, state: report.state })
      },
    )
  }
}

/** The error code of a failure, for a label: a Crust error's `code`, else `ERR_UNKNOWN`. */
export function errorCode(error: unknown): string {
  return isCrustError(error) ? error.code : 'ERR_UNKNOWN'
}
