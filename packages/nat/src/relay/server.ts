import {
  type CounterMetric,
  type ServiceConnection,
  type ServiceStream,
  type Service,
  type ServiceComponents,
  type ServiceFactory,
  shortPeerId,
  isCrustError,
} from '@crust/core'
import { StreamResetCode } from '@crust/core/plugin'
import { Circuit } from './circuit.js'
import { RelayError } from './errors.js'
import { CircuitAccounting, type Reservation, isRefusal } from './limits.js'
import { type RelayServerOptions, type ResolvedServerOptions, resolveServerOptions } from './options.js'
import {
  CircuitResetCode,
  HOP_PROTOCOL,
  type Refusal,
  STOP_PROTOCOL,
  hopRequest,
  readControl,
  refusal,
  stopAnswer,
  writeControl,
} from './protocol.js'

/**
 * The relay service, for publicly reachable nodes: connected peers may ask it
 * to carry a connection to another connected peer. The two ends run TLS
 * through it, so it forwards ciphertext only. Every circuit is bounded (per
 * peer: concurrent circuits, requests per interval, bandwidth; per circuit:
 * bytes and duration; in total: circuits) and refusals carry a typed reason.
 *
 * @example
 * ```ts
 * const node = await createNode({ networkName: 'app', transports: [tcp()], services: [relayServer()] })
 * ```
 */
export function relayServer(options: RelayServerOptions = {}): RelayServerHandle {
  const resolved = resolveServerOptions(options)
  let server: RelayServer | undefined
  const factory: ServiceFactory = (components) => {
    server = new RelayServer(components, resolved)
    return server
  }
  return Object.assign(factory, { stats: (): RelayServerStats => server?.stats() ?? { circuits: 0, relayedBytes: 0 } })
}

/** Counters of a relay server. */
export interface RelayServerStats {
  /** Circuits carried now. */
  readonly circuits: number
  /** Bytes forwarded since start, both directions, by open and closed circuits. */
  readonly relayedBytes: number
}

/** A relay server as the application holds it: the service to pass in `services`, and its counters. */
export interface RelayServerHandle extends ServiceFactory {
  /** Circuits carried now (zero before start). */
  stats(): RelayServerStats
}

class RelayServer implements Service {
  readonly id = 'relay-server'
  private readonly accounting: CircuitAccounting
  private readonly circuits = new Set<Circuit>()
  /** Streams still negotiating (request read, target asked), reset when the service stops. */
  private readonly negotiating = new Set<ServiceStream>()
  private stopServing: (() => void) | undefined
  private stopping = false

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedServerOptions,
  ) {
    this.accounting = new CircuitAccounting(options)
    // Read when scraped: nothing is counted per relayed byte.
    components.metrics?.observeGauge('crust_relay_circuits', { help: 'Circuits this relay carries now' }, (observe) =>
      observe(this.accounting.activeCircuits),
    )
    this.refusals = components.metrics?.counter('crust_relay_refusals_total', {
      help: 'Circuit requests this relay refused, by reason (a limit reached, target not connected, ...)',
      labels: ['reason'],
    })
  }

  /** Bytes forwarded by circuits that have closed. */
  private closedBytes = 0

  /** Read on demand (a status table), never per relayed byte. */
  stats(): RelayServerStats {
    let relayedBytes = this.closedBytes
    for (const circuit of this.circuits) relayedBytes += circuit.forwarded
    return { circuits: this.accounting.activeCircuits, relayedBytes }
  }

  /** Refusals by reason, when the node records metrics. */
  private readonly refusals: CounterMetric | undefined

  async start(): Promise<void> {
    this.stopServing = this.components.handleProtocol(HOP_PROTOCOL, (stream, connection) => {
      void this.serve(stream, connection)
    })
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.stopServing?.()
    for (const stream of this.negotiating) stream.reset(CircuitResetCode.SHUTDOWN)
    for (const circuit of this.circuits) circuit.stop(CircuitResetCode.SHUTDOWN)
    await Promise.all([...this.circuits].map((circuit) => circuit.done))
  }

  /** One request from `connection`'s peer: check, ask the target, then pipe. Never throws. */
  private async serve(stream: ServiceStream, connection: ServiceConnection): Promise<void> {
    const requester = connection.peerId
    this.negotiating.add(stream)
    const timer = setTimeout(() => stream.reset(StreamResetCode.TIMEOUT), this.options.answerTimeout)
    let target: string
    try {
      target = (await readControl(stream, hopRequest)).target
    } catch (error) {
      clearTimeout(timer)
      this.negotiating.delete(stream)
      if (error instanceof RelayError) await this.refuse(stream, requester, refusal('bad-request', error.message))
      return
    }
    clearTimeout(timer)
    try {
      const outcome = await this.open(requester, target)
      if ('type' in outcome) {
        await this.refuse(stream, requester, outcome)
        return
      }
      const { out, reservation } = outcome
      try {
        await writeControl(stream, { type: 'connected' })
      } catch {
        out.reset(CircuitResetCode.PEER_GONE)
        reservation.release()
        return
      }
      this.negotiating.delete(stream)
      await this.pipe(stream, out, requester, target, reservation)
    } finally {
      this.negotiating.delete(stream)
    }
  }

  /** Check the request and reserve a slot, then ask the target. Returns the target's stream or a refusal. */
  private async open(requester: string, target: string): Promise<{ out: ServiceStream; reservation: Reservation } | Refusal> {
    if (this.stopping) return refusal('unavailable', 'the relay is stopping')
    if (target === requester) return refusal('self', 'cannot relay a peer to itself')
    if (target === this.components.peerId) return refusal('self', 'the target is the relay itself: connect to it directly')
    if (this.components.isBlacklisted({ peerId: target })) return refusal('blacklisted', 'the relay blacklists the target')
    const connection = this.components.connection(target)
    if (connection === undefined || connection.method === 'relayed') {
      return refusal('not-connected', `peer ${shortPeerId(target)} is not connected to the relay`)
    }
    const reservation = this.accounting.reserve(requester)
    if (isRefusal(reservation)) return refusal('limit', reservation.message, reservation.limit)
    const answer = await this.askTarget(connection, requester)
    if ('type' in answer) {
      reservation.release()
      return answer
    }
    return { out: answer, reservation }
  }

  /** Announce the circuit to the target; its stream once it accepts, or a refusal. */
  private async askTarget(connection: ServiceConnection, requester: string): Promise<ServiceStream | Refusal> {
    const controller = new AbortController()
    let out: ServiceStream | undefined
    const timer = setTimeout(() => {
      controller.abort()
      out?.reset(StreamResetCode.TIMEOUT)
    }, this.options.answerTimeout)
    try {
      out = await connection.openProtocolStream(STOP_PROTOCOL, { signal: controller.signal })
      this.negotiating.add(out)
      await writeControl(out, { type: 'incoming', from: requester })
      const answer = await readControl(out, stopAnswer)
      if (answer.type === 'accepted') return out
      out.reset(StreamResetCode.CANCELLED)
      const limit = answer.reason === 'limit' ? 'target-circuits' : undefined
      return refusal('target-refused', `the target refused: ${answer.message || answer.reason}`, limit)
    } catch (error) {
      out?.reset(StreamResetCode.CANCELLED)
      if (controller.signal.aborted) return refusal('timeout', 'the target did not answer in time')
      if (isCrustError(error, 'ERR_STREAM_RESET') && error.resetCode === StreamResetCode.REFUSED && error.remote) {
        return refusal('target-refused', 'the target accepts no relayed connections')
      }
      if (error instanceof RelayError) return refusal('target-refused', `the target answered badly: ${error.message}`)
      return refusal('not-connected', 'the target went away')
    } finally {
      clearTimeout(timer)
      if (out !== undefined) this.negotiating.delete(out)
    }
  }

  private async pipe(
    stream: ServiceStream,
    out: ServiceStream,
    requester: string,
    target: string,
    reservation: Reservation,
  ): Promise<void> {
    const { maxCircuitBytes, maxCircuitDuration, tap } = this.options
    const circuit = new Circuit(stream, out, {
      requester,
      target,
      maxBytes: maxCircuitBytes,
      maxDurationMs: maxCircuitDuration,
      bucket: reservation.bucket,
      tap,
    })
    this.circuits.add(circuit)
    this.notify('circuit:open', `circuit ${shortPeerId(requester)} -> ${shortPeerId(target)} open`, requester)
    const end = await circuit.done
    this.circuits.delete(circuit)
    this.closedBytes += end.bytes
    reservation.release()
    this.notify(
      'circuit:close',
      `circuit ${shortPeerId(requester)} -> ${shortPeerId(target)} ${end.reason} after ${end.bytes} bytes, ${Math.round(end.durationMs)} ms`,
      requester,
    )
  }

  /** Send a refusal, then let the requester finish its side (bounded, so a silent peer cannot pin the stream). */
  private async refuse(stream: ServiceStream, requester: string, frame: Refusal): Promise<void> {
    this.notify('circuit:refused', `refused ${shortPeerId(requester)}: ${frame.reason}: ${frame.message}`, requester)
    this.refusals?.inc({ reason: frame.reason })
    const timer = setTimeout(() => stream.reset(StreamResetCode.CANCELLED), this.options.answerTimeout)
    try {
      await writeControl(stream, frame, { end: true })
      for await (const _chunk of stream) {
        // Discard: the requester has nothing more to say once refused.
      }
    } catch {
      // Reset by the requester, or by the readFrame size check: nothing more to do.
    } finally {
      clearTimeout(timer)
    }
  }

  private notify(type: string, message: string, peerId: string): void {
    this.components.notify({ service: this.id, type, message, peerId })
  }
}
