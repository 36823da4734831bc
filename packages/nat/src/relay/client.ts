import {
  AbortError,
  type ServiceConnection,
  type Connector,
  type Logger,
  type ServiceStream,
  type Service,
  type ServiceComponents,
  type ServiceFactory,
  CloseCode,
  shortPeerId,
  isCrustError,
} from '@crust/core'
import { StreamDuplex, StreamResetCode, asError, errorMessage } from '@crust/core/plugin'
import { RELAY_PRIORITY } from './priority.js'
import { RelayError } from './errors.js'
import { RelayLinks } from './links.js'
import { type RelayOptions, type ResolvedRelayOptions, resolveRelayOptions } from './options.js'
import {
  HOP_PROTOCOL,
  STOP_PROTOCOL,
  circuitEndReason,
  hopAnswer,
  readControl,
  refusal,
  refusalError,
  stopRequest,
  writeControl,
} from './protocol.js'
import { RelayedConnection } from './relayed-connection.js'
import { ClientContext, secureClient, secureServer } from './secure.js'
import { Upgrader } from './upgrade.js'

/**
 * The relay client service, for nodes that may sit behind NAT. It offers the
 * connection manager a connector (priority 20, after hole punching): when a
 * direct dial to a known peer fails, it asks connected relays (see
 * {@link relayServer}) for a circuit, runs TLS 1.3 end to end through it
 * (the peer id is verified exactly as over TCP) and hands the connection to
 * the core. It also accepts connections peers make to this node through a
 * relay, and keeps trying to replace relayed connections by direct ones.
 *
 * @example
 * ```ts
 * const node = await createNode({ networkName: 'app', transports: [tcp()], services: [relay()] })
 * await node.connect({ peerId: natedPeer, addresses: [] }) // direct, else through a relay
 * ```
 */
export function relay(options: RelayOptions = {}): ServiceFactory {
  const resolved = resolveRelayOptions(options)
  return (components) => new RelayClient(components, resolved)
}

class RelayClient implements Service {
  readonly id = 'relay'
  readonly connector: Connector
  private readonly tls: ClientContext
  private readonly logger: Logger
  private readonly upgrader: Upgrader
  private readonly links: RelayLinks
  /** Peer ids of the configured relays, best first. */
  private readonly preferred: readonly string[]
  /** Connections whose peer refused the hop protocol (it runs no relay server): not asked again. */
  private readonly notRelays = new WeakSet<ServiceConnection>()
  /** Relayed connections made or accepted and not yet closed. */
  private readonly relayed = new Set<RelayedConnection>()
  /** Attempts in progress (both directions), cancelled when the service stops. */
  private readonly attempts = new Set<AbortController>()
  /** Incoming circuits accepted and still in their TLS handshake (they count towards the limit). */
  private incomingPending = 0
  private stopServing: (() => void) | undefined
  private running = false
  /** Releases of the pruning protection held for the configured relays while the service runs. */
  private unprotectRelays: Array<() => void> = []
  /** Numbers the protection hold of each relayed connection, so each releases only its own. */
  private circuitCount = 0
  /** Relays carrying our circuits (not configured contacts, which {@link RelayLinks} keeps): kept connected while in use. */
  private readonly inUse = new Map<string, { circuits: number; release: () => void; timer?: NodeJS.Timeout }>()
  /** Our circuits by the relay connection carrying them. */
  private readonly circuits = new WeakMap<ServiceConnection, Set<RelayedConnection>>()
  /** Relays a circuit over which lost its path: probed, and asked last until they answer. */
  private readonly suspected = new Set<string>()
  /** Peer ids of the configured contacts. */
  private readonly contactIds: ReadonlySet<string>

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedRelayOptions,
  ) {
    this.tls = new ClientContext(components.security)
    this.logger = components.logger.child('relay')
    this.upgrader = new Upgrader(components, options.upgrade, (type, message, peerId) => this.notify(type, message, peerId))
    this.preferred = options.relays.map((entry) => (typeof entry === 'string' ? entry : entry.peerId))
    const contacts = options.relays.filter((entry) => typeof entry !== 'string')
    this.contactIds = new Set(contacts.map((contact) => contact.peerId))
    this.links = new RelayLinks(components, contacts, options.reconnect, (type, message, peerId) => this.notify(type, message, peerId))
    this.connector = { priority: RELAY_PRIORITY, connect: (peerId, { signal }) => this.connect(peerId, signal) }
  }

  async start(): Promise<void> {
    this.running = true
    // Our relays keep us reachable: the connection pruner must never close them.
    this.unprotectRelays = this.preferred.map((peerId) => this.components.protect(peerId, 'configured relay'))
    if (this.options.acceptIncoming) {
      this.stopServing = this.components.handleProtocol(STOP_PROTOCOL, (stream, connection) => {
        void this.accept(stream, connection)
      })
    }
    this.links.start()
  }

  async stop(): Promise<void> {
    this.running = false
    for (const release of this.unprotectRelays.splice(0)) release()
    this.stopServing?.()
    this.links.stop()
    for (const entry of this.inUse.values()) {
      clearTimeout(entry.timer)
      entry.release()
    }
    this.inUse.clear()
    this.upgrader.stop()
    for (const attempt of this.attempts) attempt.abort()
    await Promise.allSettled([...this.relayed].map((c) => c.close({ code: CloseCode.SHUTDOWN, reason: 'node stopping' })))
  }

  /** The connector: reach `target` through the first relay that can. */
  private async connect(target: string, signal: AbortSignal): Promise<ServiceConnection> {
    if (!this.running) throw new RelayError('unavailable', 'the relay service is stopped')
    this.checkCapacity()
    const candidates = this.candidates(target)
    // Permanent for this connect(): retrying would ask the same (no) connections again.
    if (candidates.length === 0) {
      throw new RelayError('no-relay', `no connected peer can relay to ${shortPeerId(target)}`, { permanent: true })
    }
    const failures: Error[] = []
    for (const relayConnection of candidates) {
      if (signal.aborted) throw new AbortError()
      try {
        return await this.connectVia(relayConnection, target, signal)
      } catch (error) {
        if (signal.aborted) throw new AbortError()
        const failure = asError(error)
        if (failure instanceof RelayError && failure.reason === 'unavailable') this.notRelays.add(relayConnection)
        this.logger.debug(`relay ${shortPeerId(relayConnection.peerId)} could not reach ${shortPeerId(target)}: ${failure.message}`)
        failures.push(failure)
      }
    }
    throw summarize(failures, target)
  }

  /** Relays to ask, best first: the configured ones, then (with `discover`) other direct connections to nodes. */
  private candidates(target: string): ServiceConnection[] {
    const usable = (connection: ServiceConnection | undefined): connection is ServiceConnection =>
      connection !== undefined &&
      connection.peerId !== target &&
      connection.method !== 'relayed' &&
      !this.notRelays.has(connection)
    const chosen = this.preferred.map((peerId) => this.components.connection(peerId)).filter(usable)
    if (this.options.discover) {
      for (const connection of this.components.connections()) {
        if (usable(connection) && connection.remoteRole === 'node' && !chosen.includes(connection)) chosen.push(connection)
      }
    }
    // A relay suspected dead would hold the attempt until its timeout: ask the others first.
    const ordered = [...chosen.filter((c) => !this.suspected.has(c.peerId)), ...chosen.filter((c) => this.suspected.has(c.peerId))]
    return ordered.slice(0, this.options.maxRelayAttempts)
  }

  private checkCapacity(): void {
    const max = this.options.maxRelayedConnections
    if (this.relayed.size + this.incomingPending >= max) {
      throw new RelayError('limit', `this node already keeps ${max} relayed connections`, { limit: 'relayed-connections' })
    }
  }

  /** Ask one relay for a circuit to `target`, secure it end to end and hand it to the core. */
  private async connectVia(relayConnection: ServiceConnection, target: string, signal: AbortSignal): Promise<ServiceConnection> {
    const relayId = relayConnection.peerId
    const { controller, timedOut, done } = this.attempt(signal, this.options.connectTimeout)
    let stream: ServiceStream | undefined
    const resetOnAbort = (): void => stream?.reset(StreamResetCode.CANCELLED)
    controller.signal.addEventListener('abort', resetOnAbort, { once: true })
    try {
      stream = await relayConnection.openProtocolStream(HOP_PROTOCOL, { signal: controller.signal })
      await writeControl(stream, { type: 'connect', target })
      const answer = await readControl(stream, hopAnswer)
      if (answer.type === 'refused') throw refusalError(answer, relayId)
      const duplex = new StreamDuplex(stream)
      const { socket, remotePeer } = await secureClient(duplex, this.tls, target, {
        timeoutMs: this.components.limits.handshakeTimeout,
        signal: controller.signal,
      })
      controller.signal.removeEventListener('abort', resetOnAbort)
      const connection = this.adopt(
        new RelayedConnection({ ...this.parts(relayId), socket, duplex, direction: 'outbound', remotePeer }),
        relayConnection,
      )
      const pooled = await this.components.establishOutbound(connection, { expectedPeerId: target, signal: controller.signal })
      this.notify('connected', `connected to ${shortPeerId(target)} through relay ${shortPeerId(relayId)}`, target)
      if (pooled.transportConnection === connection) this.upgrader.schedule(target)
      return pooled
    } catch (error) {
      stream?.reset(StreamResetCode.CANCELLED)
      if (timedOut()) throw new RelayError('timeout', `relay ${shortPeerId(relayId)}: no relayed connection within ${this.options.connectTimeout} ms`, { relay: relayId })
      throw translate(error, relayId)
    } finally {
      controller.signal.removeEventListener('abort', resetOnAbort)
      done()
    }
  }

  /** A relay announces a circuit from a peer: accept it (subject to our limits), secure it, give it to the core. */
  private async accept(stream: ServiceStream, relayConnection: ServiceConnection): Promise<void> {
    const relayId = relayConnection.peerId
    const { controller, done } = this.attempt(undefined, this.options.connectTimeout)
    const resetOnAbort = (): void => stream.reset(StreamResetCode.TIMEOUT)
    controller.signal.addEventListener('abort', resetOnAbort, { once: true })
    let reserved = false
    try {
      let from: string
      try {
        from = (await readControl(stream, stopRequest)).from
      } catch (error) {
        if (error instanceof RelayError) await writeControl(stream, refusal('bad-request', error.message), { end: true })
        return
      }
      const refused = this.refusalFor(from)
      if (refused !== undefined) {
        this.notify('incoming:refused', `refused a relayed connection from ${shortPeerId(from)}: ${refused.message}`, from)
        await writeControl(stream, refused, { end: true })
        return
      }
      this.incomingPending++
      reserved = true
      await writeControl(stream, { type: 'accepted' })
      const duplex = new StreamDuplex(stream)
      const { socket, remotePeer } = await secureServer(duplex, this.components.security, from, {
        timeoutMs: this.components.limits.handshakeTimeout,
        signal: controller.signal,
      })
      controller.signal.removeEventListener('abort', resetOnAbort)
      const connection = this.adopt(
        new RelayedConnection({ ...this.parts(relayId), socket, duplex, direction: 'inbound', remotePeer }),
        relayConnection,
      )
      // Upgrades are planned once the core pooled it (the reversal decision reads its claimed addresses).
      void this.components.acceptInbound(connection).then(() => this.upgrader.schedule(from))
    } catch (error) {
      stream.reset(StreamResetCode.CANCELLED)
      this.logger.debug(`relayed connection through ${shortPeerId(relayId)} failed: ${errorMessage(error)}`)
    } finally {
      if (reserved) this.incomingPending--
      controller.signal.removeEventListener('abort', resetOnAbort)
      done()
    }
  }

  /** Why we would refuse a relayed connection from `from`, if we would. */
  private refusalFor(from: string): ReturnType<typeof refusal> | undefined {
    if (!this.running) return refusal('unavailable', 'the node is stopping')
    if (from === this.components.peerId) return refusal('self', 'a peer cannot connect to itself')
    if (this.components.isBlacklisted({ peerId: from })) return refusal('blacklisted', 'the target blacklists the requester')
    if (this.relayed.size + this.incomingPending >= this.options.maxRelayedConnections) {
      return refusal('limit', `the target already keeps ${this.options.maxRelayedConnections} relayed connections`)
    }
    return undefined
  }

  /** An attempt's controller: follows `signal`, aborts after `timeoutMs` and when the service stops. */
  private attempt(
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): { controller: AbortController; timedOut: () => boolean; done: () => void } {
    const controller = new AbortController()
    let expired = false
    const timer = setTimeout(() => {
      expired = true
      controller.abort()
    }, timeoutMs)
    const follow = (): void => controller.abort()
    signal?.addEventListener('abort', follow, { once: true })
    this.attempts.add(controller)
    return {
      controller,
      timedOut: () => expired,
      done: () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', follow)
        this.attempts.delete(controller)
      },
    }
  }

  private parts(relayPeerId: string) {
    return {
      relayPeerId,
      localPeerId: this.components.peerId,
      limits: this.components.limits,
      logger: this.logger,
    }
  }

  private adopt(connection: RelayedConnection, relayConnection: ServiceConnection): RelayedConnection {
    this.relayed.add(connection)
    // The relay carries this connection: closing it to make room would cut the circuit too.
    const release = this.components.protect(connection.relayPeerId, `circuit ${++this.circuitCount}`)
    this.use(relayConnection)
    const carried = this.carriedBy(relayConnection)
    carried.add(connection)
    void connection.closed.then((info) => {
      carried.delete(connection)
      this.relayed.delete(connection)
      release()
      this.unuse(connection.relayPeerId)
      const lostItsPath = info.code === CloseCode.PATH_LOST && !(info.error instanceof RelayError && info.error.reason === 'relay-lost')
      if (lostItsPath && this.components.connection(connection.relayPeerId) === relayConnection) this.suspect(relayConnection)
    })
    return connection
  }

  /** Our circuits over `relayConnection`; every one ends with it, at once and with a typed reason (`relay-lost`). */
  private carriedBy(relayConnection: ServiceConnection): Set<RelayedConnection> {
    let carried = this.circuits.get(relayConnection)
    if (carried === undefined) {
      const set = new Set<RelayedConnection>()
      this.circuits.set(relayConnection, set)
      void relayConnection.closed.then((info) => {
        for (const connection of set) connection.relayClosed(info)
      })
      carried = set
    }
    return carried
  }

  /** A relay now carries one more of our circuits: keep it connected while it does (configured contacts are kept anyway). */
  private use(relayConnection: ServiceConnection): void {
    const relayId = relayConnection.peerId
    if (this.contactIds.has(relayId) || !this.running) return
    const entry = this.inUse.get(relayId)
    if (entry !== undefined) {
      entry.circuits++
      clearTimeout(entry.timer)
      entry.timer = undefined
      return
    }
    const reached = relayConnection.direction === 'outbound' && relayConnection.method === 'direct' ? [relayConnection.remoteAddress] : []
    const addresses = [...this.components.claimedAddresses(relayConnection), ...reached]
    this.inUse.set(relayId, { circuits: 1, release: this.components.keep(relayId, addresses) })
  }

  /**
   * One circuit fewer over `relayId`. A relay that carries none is released
   * once it is connected (it was lost with our circuits: peers that reached
   * us through it try it again), or after {@link RELAY_RETURN_WAIT} ms.
   */
  private unuse(relayId: string): void {
    const entry = this.inUse.get(relayId)
    if (entry === undefined || --entry.circuits > 0) return
    const started = performance.now()
    const check = (): void => {
      entry.timer = undefined
      if (this.inUse.get(relayId) !== entry || entry.circuits > 0) return
      if (this.components.connection(relayId) === undefined && performance.now() - started < RELAY_RETURN_WAIT) {
        entry.timer = setTimeout(check, RELAY_RETURN_CHECK)
        entry.timer.unref()
        return
      }
      this.inUse.delete(relayId)
      entry.release()
    }
    // Let the close reach the pool first: a relay connection closing right now still counts as connected.
    entry.timer = setTimeout(check, RELAY_RETURN_CHECK)
    entry.timer.unref()
  }

  /**
   * A circuit over `relayConnection` lost its path: the relay may be gone
   * without a word (blackholed). Ask other relays first meanwhile; a relay
   * that does not answer a ping is closed as `PATH_LOST`, which ends every
   * circuit over it at once, and is redialled (kept) when it comes back.
   */
  private suspect(relayConnection: ServiceConnection): void {
    const relayId = relayConnection.peerId
    if (this.suspected.has(relayId)) return
    this.suspected.add(relayId)
    void relayConnection.ping({ timeout: RELAY_PROBE_TIMEOUT }).then(
      () => this.suspected.delete(relayId),
      (error: unknown) => {
        this.logger.info(`relay ${shortPeerId(relayId)} did not answer after a circuit over it lost its path: closing it (${errorMessage(error)})`)
        void relayConnection.transportConnection
          .close({ code: CloseCode.PATH_LOST, reason: `path lost: relay did not answer a ping within ${RELAY_PROBE_TIMEOUT} ms` })
          .finally(() => this.suspected.delete(relayId))
      },
    )
  }

  private notify(type: string, message: string, peerId: string): void {
    this.components.notify({ service: this.id, type, message, peerId })
  }
}

/** How long a suspected relay has to answer a ping (ms). */
const RELAY_PROBE_TIMEOUT = 2_000
/** How long a lost relay that carried our circuits is kept (redialled) after they ended (ms). */
const RELAY_RETURN_WAIT = 60_000
const RELAY_RETURN_CHECK = 1_000

/** A typed error for a failed attempt through one relay. */
function translate(error: unknown, relayId: string): Error {
  if (isCrustError(error, 'ERR_STREAM_RESET') && error.remote) {
    const reason = circuitEndReason(error.resetCode)
    if (reason !== undefined) {
      const message =
        reason === 'unavailable'
          ? `peer ${shortPeerId(relayId)} runs no relay server`
          : `relay ${shortPeerId(relayId)} reset the circuit: ${reason}`
      return new RelayError(reason, message, { relay: relayId, cause: error })
    }
  }
  return asError(error)
}

/** One error for every relay that failed: an authentication failure first (a relay lied), else the first typed refusal. */
function summarize(failures: readonly Error[], target: string): Error {
  const first = failures[0]
  if (failures.length === 1 && first !== undefined) return first
  const forged = failures.find((failure) => isCrustError(failure, 'ERR_AUTHENTICATION'))
  if (forged !== undefined) return forged
  const typed = failures.find((failure): failure is RelayError => failure instanceof RelayError)
  const text = failures.map((failure) => failure.message).join('; ')
  return new RelayError(typed?.reason ?? 'no-relay', `no relay could reach ${shortPeerId(target)}: ${text}`, {
    limit: typed?.limit,
    cause: typed,
  })
}

export { RELAY_PRIORITY }
