import { inject, injectable } from 'tsyringe'
import { sleepUnlessAborted } from '../events/sleep.js'
import type { NodeConfig } from '../config/schema.js'
import { Connection, type ConnectionSettings, PING_PROTOCOL } from '../connection/connection.js'
import type { ProtocolStream } from '../connection/protocol-stream.js'
import type { AdvertisedAddress, Connector, ProtocolHandler } from '../service/types.js'
import { type HandshakeInfo, type HandshakeOptions, dialerHandshake, listenerHandshake } from '../connection/handshake.js'
import { type IncomingMessage, type MessageHandler, type ServeContext, serveStream } from '../connection/incoming.js'
import { type ConnectionBudget, type MessageBudget, createMessageBudget } from '../connection/message-budget.js'
import { StreamResetCode } from '../connection/stream-codes.js'
import { Tokens } from '../di/tokens.js'
import {
  AbortError,
  AllCandidatesFailedError,
  AuthenticationError,
  BlacklistedError,
  ConfigError,
  ConnectionLimitError,
  CrustError,
  DialError,
  LimitExceededError,
  NetworkMismatchError,
  NotStartedError,
  ProtocolError,
  TimeoutError,
  UnsupportedAddressError,
} from '../errors.js'
import { AsyncQueue } from '../events/async-queue.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import { normalizeIp, parseAddress } from '../transport/address.js'
import {
  CloseCode,
  type ConnectionGate,
  type ConnectionMethod,
  type SecurityContext,
  type Transport,
  type TransportComponents,
  type TransportConnection,
  type TransportLimits,
  type TransportStream,
} from '../transport/types.js'
import type { Blacklist } from './blacklist.js'
import { ConnectionPruner } from './connection-pruner.js'
import { InboundLimiter } from './inbound-limiter.js'
import { ProtectedPeers } from './protection.js'
import { ReportThrottle } from './report-throttle.js'
import { ConnectionPool } from './pool.js'
import { RaceFailedError, raceStaggered } from './race.js'
import { ExternalAddressBook } from './external-addresses.js'
import { ReachabilityChecker } from './reachability.js'
import { retryWithBackoff } from './retry.js'
import { fallbackReason, groupByTransport } from './transport-order.js'

/** Who to connect to: a peer id (checked against its certificate) and where to find it. */
export interface PeerContact {
  /** The expected peer id; omit to accept whoever answers (its id is then learned from its certificate). */
  readonly peerId?: string
  /** Transport addresses, e.g. `tcp://127.0.0.1:4001`. */
  readonly addresses: readonly string[]
}

/** Options for {@link ConnectionManager.connect}. */
export interface ConnectOptions {
  /** Cancel the attempt (and its retries). */
  readonly signal?: AbortSignal
  /** Retry with exponential backoff on transient failures (default true). */
  readonly retry?: boolean
  /** Use only this transport (e.g. `'quic'`), instead of preferring TCP and falling back. */
  readonly transport?: string
}

/** Errors that no retry can fix. */
function isPermanent(error: unknown): boolean {
  if (error instanceof DialError) return error.errors.length > 0 && error.errors.every((e) => isPermanent(e.error))
  return (
    error instanceof AuthenticationError ||
    error instanceof BlacklistedError ||
    error instanceof NetworkMismatchError ||
    error instanceof AbortError ||
    error instanceof UnsupportedAddressError ||
    error instanceof ConfigError ||
    error instanceof ConnectionLimitError
  )
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

/** An authenticated, handshaken transport connection not yet in the pool. */
interface Secured {
  readonly transportConnection: TransportConnection
  readonly remote: HandshakeInfo
}

/**
 * The connection manager: policy for every connection the node has. It owns
 * the pool, dial deduplication, address racing, retries, the blacklist gate,
 * inbound limits and message dispatch. Transports only move bytes.
 */
@injectable()
export class ConnectionManager {
  /** Established connections, one per peer. */
  readonly pool: ConnectionPool
  private readonly pending = new Set<TransportConnection>()
  private readonly announced = new WeakSet<Connection>()
  private readonly dials = new Map<string, SharedDial>()
  private readonly queues = new Set<AsyncQueue<IncomingMessage>>()
  private readonly limiter: InboundLimiter
  /** Peers the pruner must never close. */
  readonly protection = new ProtectedPeers()
  private readonly pruner: ConnectionPruner
  /** Collapses floods of refusals and peer errors into one summary line per interval. */
  private readonly reports: ReportThrottle
  /** Protocol errors per connection in the current minute, for `maxProtocolErrors`. */
  private readonly protocolErrors = new WeakMap<Connection, { count: number; since: number }>()
  private readonly settings: ConnectionSettings
  private readonly reachability: ReachabilityChecker
  /** Where peers' echoes say we are, per transport. */
  readonly externalAddresses: ExternalAddressBook
  /** The addresses each connected peer claims it can be dialled at (from its handshake). */
  private readonly claimed = new WeakMap<Connection, readonly string[]>()
  private transports: Transport[] = []
  /** Service protocols served on protocol streams, by name. */
  private readonly protocols = new Map<string, ProtocolHandler>()
  /** Addresses services publish (e.g. UPnP mappings), by service id. */
  private readonly advertisedBy = new Map<string, readonly AdvertisedAddress[]>()
  /** Ways to reach peers that direct dials cannot, lowest priority first. */
  private connectors: Array<{ readonly id: string; readonly connector: Connector }> = []
  private handler: MessageHandler | undefined
  private running = false
  /** Node-wide budget of partly received messages, made with the first connection. */
  private messageBudget: MessageBudget | undefined
  private unsubscribeBlacklist: (() => void) | undefined

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Security) private readonly security: SecurityContext,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Blacklist) readonly blacklist: Blacklist,
    @inject(Tokens.NetworkHash) private readonly networkHash: string,
  ) {
    this.pool = new ConnectionPool(security.peerId)
    const limits = config.connection
    for (const peerId of limits.protectedPeers) this.protection.protect(peerId, 'config')
    for (const contact of config.bootstrap.contacts) this.protection.protect(contact.peerId, 'bootstrap')
    this.pruner = new ConnectionPruner({ gracePeriod: limits.pruneGracePeriod, isProtected: (peerId) => this.protection.has(peerId) })
    this.limiter = new InboundLimiter({
      maxInboundPerIp: limits.maxInboundPerIp,
      addressPrefixes: { ipv4: 32, ipv6: limits.ipv6PrefixLength },
      maxInboundPerSubnet: limits.maxInboundPerSubnet,
      subnetPrefixes: { ipv4: limits.ipv4SubnetPrefixLength, ipv6: limits.ipv6SubnetPrefixLength },
      maxPendingInbound: limits.maxPendingInbound,
      countPendingInbound: () => this.limiter.total - this.pool.all().filter((c) => c.direction === 'inbound').length,
      hasRoom: () => this.hasRoom(),
      describeFull: () => `connection limit reached (${limits.maxConnections}) and no connection can be pruned`,
    })
    this.reports = new ReportThrottle(config.reportInterval, REPORTS_PER_INTERVAL, (kind, count, ms) =>
      this.logger.warn(`${count} more ${kind} in the last ${Math.round(ms / 1000)} s (not logged one by one)`),
    )
    this.settings = { maxMessageSize: config.maxMessageSize, requestTimeout: config.connection.requestTimeout }
    this.reachability = new ReachabilityChecker((address, peerId, signal) => this.probe(address, peerId, signal), config.reachability)
    this.externalAddresses = new ExternalAddressBook(
      () => this.addresses(),
      config.externalAddresses,
      logger,
      (transport, addresses) => this.events.emit('address:conflict', { transport, addresses }),
    )
    this.protocols.set(PING_PROTOCOL, (stream) => void echoFrames(stream))
  }

  /** The gate transports consult before spending TLS work on an inbound socket. */
  readonly gate: ConnectionGate = {
    admitInbound: (remote) => {
      const ip = normalizeIp(remote.host)
      const remoteAddress = `${remote.transport}://${ip}:${remote.port}`
      if (!this.running) return { allow: false, code: CloseCode.SHUTDOWN, reason: 'node is stopping' }
      if (this.blacklist.blocksIp(ip)) {
        this.rejected('inbound', remoteAddress, new BlacklistedError(`inbound connection from blacklisted address ${ip}`))
        return { allow: false, code: CloseCode.BLACKLISTED, reason: 'address is blacklisted' }
      }
      const admission = this.limiter.admit(ip)
      if (!admission.allow) {
        this.rejected('inbound', remoteAddress, new ConnectionLimitError(admission.reason))
        return { allow: false, code: CloseCode.LIMIT_REACHED, reason: admission.reason }
      }
      return { allow: true, release: admission.release }
    },
  }

  /** Instantiate the transport plugins and start listening. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    const components: TransportComponents = {
      security: this.security,
      gate: this.gate,
      limits: this.limits,
      logger: this.logger,
      onInboundConnection: (connection) => {
        void this.acceptInbound(connection)
      },
      onInboundFailure: (remoteAddress, error) => this.rejected('inbound', remoteAddress, error),
    }
    this.transports = this.config.transports.map((factory) => factory({ ...components, logger: this.logger.child('transport') }))
    this.unsubscribeBlacklist = this.blacklist.onChange((change) => {
      this.events.emit('blacklist:change', change)
      if (change.type === 'add') this.enforceBlacklist()
    })
    try {
      await this.listen()
    } catch (error) {
      await this.stop()
      throw error
    }
  }

  private async listen(): Promise<void> {
    if (this.config.role === 'client') return // clients accept no inbound connections
    const explicit = this.config.listen
    for (const transport of this.transports) {
      const addresses = explicit
        ? explicit.filter((address) => parseAddress(address)?.transport === transport.id)
        : transport.defaultListenAddresses
      let bound = 0
      let lastError: unknown
      for (const address of addresses) {
        try {
          await transport.listen(address)
          bound++
        } catch (error) {
          lastError = error
          this.logger.warn(`${transport.id}: cannot listen on ${address}: ${asError(error).message}`)
        }
      }
      if (addresses.length > 0 && bound === 0) throw asError(lastError)
    }
  }

  /** Close every connection and transport. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.unsubscribeBlacklist?.()
    const closing = [...this.pool.all().map((c) => c.transportConnection), ...this.pending].map((c) =>
      c.close({ code: CloseCode.SHUTDOWN, reason: 'node stopping' }),
    )
    await Promise.allSettled(closing)
    await Promise.allSettled(this.transports.map((t) => t.close()))
    for (const dial of this.dials.values()) dial.controller.abort()
    for (const queue of this.queues) queue.end()
    this.queues.clear()
    this.reports.flush()
  }

  /**
   * Whether one more connection fits: a free slot, counting handshakes in
   * progress, or enough connections the pruner may close.
   */
  private hasRoom(): boolean {
    const excess = this.pool.size + this.pending.size + 1 - this.config.connection.maxConnections
    return excess <= 0 || this.pruner.countPrunable(this.pool.all()) >= excess
  }

  /**
   * Make a pool slot for a new connection to `peerId` by pruning the least
   * valuable unprotected connection while the pool is full.
   * @throws ConnectionLimitError when nothing can be pruned (a protected peer is admitted over the limit).
   */
  private makeRoom(peerId: string): void {
    const { maxConnections } = this.config.connection
    if (this.pool.get(peerId) !== undefined) return // it replaces (or loses to) the pooled one
    while (this.pool.size >= maxConnections) {
      const victim = this.pruner.victim(this.pool.all())
      if (victim === undefined) {
        if (this.protection.has(peerId)) return // bounded by how many peers are protected
        throw new ConnectionLimitError(`the node is full (${maxConnections} connections) and none can be pruned`)
      }
      this.pool.remove(victim)
      const idle = Math.round((Date.now() - victim.lastActiveAt) / 1000)
      this.logger.info(`pruned the connection to ${victim.peerId} (idle ${idle} s) to admit ${peerId}`)
      void victim.transportConnection.close({ code: CloseCode.PRUNED, reason: 'pruned: the node is full' })
    }
  }

  /** Protect `peerId` from pruning for `tag`; returns a function that releases this hold. */
  protect(peerId: string, tag: string): () => void {
    return this.protection.protect(peerId, tag)
  }

  /** The timing and stream limits every transport (and connection-making service) applies. */
  get limits(): TransportLimits {
    const { idleTimeout, keepAliveInterval, handshakeTimeout, maxInboundStreams } = this.config.connection
    return { idleTimeout, keepAliveInterval, handshakeTimeout, maxInboundStreams }
  }

  /** Addresses peers can dial us at: the transports' own, then what services publish (e.g. UPnP mappings). */
  addresses(): string[] {
    const published = [...this.advertisedBy.values()].flat().map((entry) => entry.address)
    return [...new Set([...this.listenAddresses(), ...published])]
  }

  /** Addresses the transports are bound to. */
  listenAddresses(): string[] {
    return this.transports.flatMap((t) => t.addresses())
  }

  /** The transport with id `id`, if configured. */
  transport(id: string): Transport | undefined {
    return this.transports.find((t) => t.id === id)
  }

  /** Replace the addresses service `source` publishes. */
  advertise(source: string, addresses: readonly AdvertisedAddress[]): void {
    if (addresses.length === 0) this.advertisedBy.delete(source)
    else this.advertisedBy.set(source, [...addresses])
  }

  /** Serve a service protocol on protocol streams; returns a function that stops serving it. */
  handleProtocol(protocol: string, handler: ProtocolHandler): () => void {
    if (this.protocols.has(protocol)) throw new ConfigError(`protocol ${protocol} is already served`)
    this.protocols.set(protocol, handler)
    return () => {
      if (this.protocols.get(protocol) === handler) this.protocols.delete(protocol)
    }
  }

  /** Register a way to reach peers that direct dials cannot (tried in priority order). */
  addConnector(id: string, connector: Connector): void {
    this.connectors = [...this.connectors, { id, connector }].sort((a, b) => a.connector.priority - b.connector.priority)
  }

  /** Forget every connector (the node stops its services). */
  clearConnectors(): void {
    this.connectors = []
  }

  /** Set the message handler (replaces any previous one). */
  handle(handler: MessageHandler | undefined): void {
    this.handler = handler
  }

  /** Incoming messages as an async iterator; a slow consumer slows the senders down (backpressure). */
  messages(capacity = 1024): AsyncIterable<IncomingMessage> {
    const queue = new AsyncQueue<IncomingMessage>(capacity)
    this.queues.add(queue)
    const queues = this.queues
    return {
      [Symbol.asyncIterator]() {
        const iterator = queue[Symbol.asyncIterator]()
        return {
          next: () => iterator.next(),
          return: async (value?: unknown) => {
            queues.delete(queue)
            return (await iterator.return?.(value)) ?? { done: true, value: undefined }
          },
        }
      },
    }
  }

  /**
   * Connect to a peer, reusing a pooled connection. Concurrent calls for the
   * same peer share one attempt; transient failures are retried with backoff.
   */
  async connect(peer: PeerContact, options: ConnectOptions = {}): Promise<Connection> {
    if (!this.running) throw new NotStartedError()
    if (peer.peerId !== undefined) {
      if (this.blacklist.blocksPeer(peer.peerId)) throw new BlacklistedError(`peer ${peer.peerId} is blacklisted`)
      const pooled = this.pool.get(peer.peerId)
      if (pooled) return pooled
    }
    const key = `${options.transport ?? '*'} ${peer.peerId ?? [...peer.addresses].sort().join(' ')}`
    let dial = this.dials.get(key)
    if (dial === undefined) {
      const controller = new AbortController()
      const promise = this.dialWithRetry(peer, options, controller.signal).finally(() => this.dials.delete(key))
      promise.catch(() => {}) // every caller hears of a failure through join(); none may be left
      dial = { promise, controller, callers: 0 }
      this.dials.set(key, dial)
    }
    return join(dial, options.signal)
  }

  /**
   * Race connections to every candidate; the first to succeed is returned and
   * the other attempts are cancelled (and any that still succeed are closed).
   */
  async connectAny(peers: readonly PeerContact[], options: ConnectOptions = {}): Promise<Connection> {
    if (!this.running) throw new NotStartedError()
    const preexisting = new Set(this.pool.all())
    try {
      return await raceStaggered(peers, (peer, signal) => this.connect(peer, { ...options, signal }), {
        staggerMs: 0,
        signal: options.signal,
        dispose: (connection) => {
          if (!preexisting.has(connection)) void connection.close('connectAny: another candidate won')
        },
      })
    } catch (error) {
      if (error instanceof RaceFailedError) {
        const failures = (error as RaceFailedError<PeerContact>).failures
        throw new AllCandidatesFailedError(
          `none of ${peers.length} candidates could be reached`,
          failures.map((f) => ({ peerId: f.candidate.peerId, error: f.error })),
        )
      }
      throw error
    }
  }

  private async dialWithRetry(peer: PeerContact, options: ConnectOptions, signal: AbortSignal): Promise<Connection> {
    const attempt = () => this.dialOrTraverse(peer, options.transport, signal)
    if (options.retry === false) return attempt()
    try {
      return await retryWithBackoff(attempt, {
        ...this.config.retry,
        signal,
        shouldRetry: (error) => this.running && !isPermanent(error) && !(peer.peerId && this.pool.get(peer.peerId)),
        onRetry: (error, attempt, delay) => {
          this.logger.debug(`dial ${peer.peerId ?? peer.addresses.join(',')} failed (${asError(error).message}); retry ${attempt} in ${delay} ms`)
          this.events.emit('dial:retry', { peerId: peer.peerId, attempt, delay, error: asError(error) })
        },
      })
    } catch (error) {
      // A simultaneous open may have given us the peer through the other side's dial.
      const pooled = peer.peerId ? this.pool.get(peer.peerId) : undefined
      if (pooled) return pooled
      throw error
    }
  }

  /**
   * Dial directly and, for a known peer id, race NAT traversal against it:
   * the service connectors (hole punching, then relaying) start when the
   * direct dial fails for a reason traversal could fix, or after
   * `traversalDelay` if it is still trying (addresses behind a NAT often fail
   * only at the dial timeout). The first connection wins; the other attempt is
   * cancelled.
   */
  private async dialOrTraverse(peer: PeerContact, pinned: string | undefined, signal: AbortSignal): Promise<Connection> {
    const peerId = peer.peerId
    if (peerId === undefined || pinned !== undefined || this.connectors.length === 0) return this.dialOnce(peer, pinned, signal)
    const controller = new AbortController()
    const onAbort = (): void => controller.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    let directError: Error | undefined
    const direct =
      peer.addresses.length === 0 ? Promise.reject(new DialError('no addresses to dial')) : this.dialOnce(peer, undefined, controller.signal)
    const directSettled = direct.then(
      () => undefined,
      (error: unknown) => {
        directError = asError(error)
      },
    )
    const failures: Array<{ address: string; error: Error }> = []
    const traversal = (async () => {
      await Promise.race([directSettled, sleepUnlessAborted(this.config.connection.traversalDelay, controller.signal)])
      if (directError !== undefined && isPermanent(directError)) throw directError
      return this.traverse(peerId, controller.signal, failures)
    })()
    try {
      return await Promise.any([direct, traversal])
    } catch {
      const pooled = this.pool.get(peerId)
      if (pooled) return pooled
      if (signal.aborted) throw new AbortError()
      if (directError !== undefined && isPermanent(directError)) throw directError
      const all = [{ address: 'direct', error: directError ?? new DialError('direct dial failed') }, ...failures]
      throw new DialError(`could not connect to ${peerId}: ${all.map(describeFailure).join('; ')}`, all)
    } finally {
      signal.removeEventListener('abort', onAbort)
      controller.abort()
    }
  }

  /** For services: try the connectors below `belowPriority` (e.g. hole punching to upgrade a relayed connection). */
  async traverseBelow(peerId: string, belowPriority: number, signal: AbortSignal = new AbortController().signal): Promise<Connection> {
    if (!this.running) throw new NotStartedError()
    const failures: Array<{ address: string; error: Error }> = []
    try {
      // The pooled connection counts only when it is already better than relayed (another upgrade got there).
      const better = (connection: Connection): boolean => connection.method !== 'relayed'
      return await this.traverse(peerId, signal, failures, (connector) => connector.priority < belowPriority, better)
    } catch (error) {
      if (failures.length === 0) throw error
      throw new DialError(`could not reach ${peerId}: ${failures.map(describeFailure).join('; ')}`, failures)
    }
  }

  /** Try each service connector (that `accept`s) in priority order; failures are collected in `failures`. */
  private async traverse(
    peerId: string,
    signal: AbortSignal,
    failures: Array<{ address: string; error: Error }>,
    accept: (connector: Connector) => boolean = () => true,
    reuse: (pooled: Connection) => boolean = () => true,
  ): Promise<Connection> {
    for (const { id, connector } of this.connectors) {
      if (!accept(connector)) continue
      if (signal.aborted) throw new AbortError()
      const pooled = this.pool.get(peerId)
      if (pooled && reuse(pooled)) return pooled
      try {
        const connection = await connector.connect(peerId, { signal })
        this.logger.info(`connected to ${peerId} via ${id} (${connection.method})`)
        return connection
      } catch (error) {
        failures.push({ address: `via ${id}`, error: asError(error) })
        this.logger.debug(`${id} could not reach ${peerId}: ${asError(error).message}`)
      }
    }
    throw new DialError(`no connector reached ${peerId}`)
  }

  private async dialOnce(peer: PeerContact, pinned: string | undefined, signal: AbortSignal | undefined): Promise<Connection> {
    const { maxConnections, transportPreference, fallbackDelay, dialStagger } = this.config.connection
    if (!(peer.peerId !== undefined && this.pool.get(peer.peerId)) && !this.hasRoom()) {
      throw new ConnectionLimitError(`already at the limit of ${maxConnections} connections and none can be pruned`)
    }
    const usable = peer.addresses.filter((address) => this.transportFor(address) !== undefined)
    if (usable.length === 0) {
      const first = peer.addresses[0]
      throw first === undefined ? new DialError('no addresses to dial') : new UnsupportedAddressError(first)
    }
    const allowed = usable.filter((address) => !this.blacklist.blocksIp(normalizeIp(parseAddress(address)?.host ?? '')))
    if (allowed.length === 0) throw new BlacklistedError(`every address of ${peer.peerId ?? 'the peer'} is blacklisted`)
    const groups = groupByTransport(allowed, (address) => this.transportFor(address)?.id, transportPreference, pinned)
    if (groups.length === 0) throw new UnsupportedAddressError(`${pinned}:// (the peer has no ${pinned} address)`)

    // Happy Eyeballs twice over: transports in preference order, each started
    // when the previous failed or is still connecting after `fallbackDelay`;
    // within a transport, addresses staggered by `dialStagger`.
    const groupErrors = new Map<string, Error>()
    const failures: Array<{ address: string; error: Error }> = []
    const redundant = (late: Secured): void =>
      void late.transportConnection.close({ code: CloseCode.NORMAL, reason: 'redundant dial' })
    let secured: Secured
    try {
      secured = await raceStaggered(
        groups,
        async (group, groupSignal) => {
          try {
            return await raceStaggered(group.addresses, (address, s) => this.secure(address, peer.peerId, s), {
              staggerMs: dialStagger,
              signal: groupSignal,
              dispose: redundant,
            })
          } catch (error) {
            const inner = error instanceof RaceFailedError ? (error as RaceFailedError<string>).failures : []
            for (const f of inner) failures.push({ address: f.candidate, error: f.error })
            const first = inner[0]?.error ?? (error instanceof Error ? error : new Error(String(error)))
            groupErrors.set(group.transport, first)
            throw first
          }
        },
        { staggerMs: fallbackDelay, signal, dispose: redundant },
      )
    } catch (error) {
      if (!(error instanceof RaceFailedError)) throw error
      const only = failures.length === 1 ? failures[0]?.error : undefined
      if (only instanceof CrustError && !(only instanceof DialError)) throw only
      throw new DialError(
        `could not connect to ${peer.peerId ?? 'peer'}: ${failures.map(describeFailure).join('; ')}`,
        failures,
      )
    }
    const connection = this.establish(secured.transportConnection, secured.remote)
    const preferred = groups[0]?.transport
    const used = secured.transportConnection.transport
    if (preferred !== undefined && used !== preferred && connection.transportConnection === secured.transportConnection) {
      const reason = fallbackReason(groupErrors.get(preferred))
      connection.fallback = { from: preferred, reason }
      this.logger.info(`connected to ${connection.peerId} over ${used}: ${preferred} ${reason}`)
      this.events.emit('connection:fallback', { connection, peerId: connection.peerId, from: preferred, to: used, reason })
    }
    return connection
  }

  /**
   * For services: dial one address, authenticate, handshake and pool it (no
   * retries, no connectors). `method` tells the listener how the path was made.
   */
  async dialAddress(address: string, options: { peerId: string; method?: ConnectionMethod; signal?: AbortSignal }): Promise<Connection> {
    if (!this.running) throw new NotStartedError()
    if (this.blacklist.blocksPeer(options.peerId)) throw new BlacklistedError(`peer ${options.peerId} is blacklisted`)
    const via = options.method === 'punched' || options.method === 'relayed' ? options.method : undefined
    const secured = await this.secure(address, options.peerId, options.signal ?? new AbortController().signal, via)
    return this.establish(secured.transportConnection, secured.remote, undefined, via)
  }

  /** For services: handshake a secured outbound connection they made (e.g. over a relay) and pool it. */
  async establishOutbound(
    connection: TransportConnection,
    options: { expectedPeerId: string; signal?: AbortSignal },
  ): Promise<Connection> {
    const fail = async (error: Error, code: number): Promise<never> => {
      await connection.close({ code, reason: error.message })
      throw error
    }
    if (!this.running) return fail(new NotStartedError(), CloseCode.SHUTDOWN)
    const peerId = connection.remotePeer.peerId
    if (peerId !== options.expectedPeerId) {
      return fail(new AuthenticationError(`expected peer ${options.expectedPeerId}, got ${peerId}`), CloseCode.AUTH_FAILED)
    }
    if (this.blacklist.blocksPeer(peerId)) return fail(new BlacklistedError(`peer ${peerId} is blacklisted`), CloseCode.BLACKLISTED)
    this.track(connection)
    const onAbort = (): void => void connection.close({ code: CloseCode.NORMAL, reason: 'dial cancelled' })
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const via = connection.method === 'punched' || connection.method === 'relayed' ? connection.method : undefined
      const remote = await dialerHandshake(connection, { ...this.handshakeOptions(), via })
      return this.establish(connection, remote, undefined, via)
    } catch (error) {
      void connection.close({ code: CloseCode.PROTOCOL_ERROR, reason: asError(error).message })
      throw error
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Dial one address, authenticate and handshake, all under the dial timeout. */
  private async secure(
    address: string,
    expectedPeerId: string | undefined,
    signal: AbortSignal,
    via?: 'punched' | 'relayed',
  ): Promise<Secured> {
    const transport = this.transportFor(address)
    if (transport === undefined) throw new UnsupportedAddressError(address)
    const timeoutMs = this.config.connection.dialTimeout
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
    const onAbort = (): void => controller.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    let connection: TransportConnection | undefined
    try {
      connection = await transport.dial(address, { signal: controller.signal, expectedPeerId })
      const remotePeerId = connection.remotePeer.peerId
      if (remotePeerId === this.security.peerId) throw new DialError(`${address} is this node itself`)
      if (this.blacklist.blocksPeer(remotePeerId)) throw new BlacklistedError(`peer ${remotePeerId} is blacklisted`)
      this.track(connection)
      const dialled = connection
      const abortHandshake = (): void => void dialled.close({ code: CloseCode.NORMAL, reason: 'dial cancelled' })
      controller.signal.addEventListener('abort', abortHandshake, { once: true })
      const remote = await dialerHandshake(connection, { ...this.handshakeOptions(), target: address, via })
      controller.signal.removeEventListener('abort', abortHandshake)
      return { transportConnection: connection, remote }
    } catch (error) {
      const code = error instanceof BlacklistedError ? CloseCode.BLACKLISTED : CloseCode.PROTOCOL_ERROR
      void connection?.close({ code, reason: asError(error).message })
      if (timedOut) throw new TimeoutError(`connecting to ${address} took longer than ${timeoutMs} ms`)
      if (signal.aborted) throw new AbortError()
      throw error
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
    }
  }

  /** An inbound, TLS-authenticated connection (from a transport or a service): handshake, then pool it. */
  async acceptInbound(connection: TransportConnection): Promise<void> {
    this.track(connection)
    const peerId = connection.remotePeer.peerId
    if (!this.running || this.blacklist.blocksPeer(peerId)) {
      const error = this.running ? new BlacklistedError(`peer ${peerId} is blacklisted`) : new NotStartedError()
      await connection.close({ code: this.running ? CloseCode.BLACKLISTED : CloseCode.SHUTDOWN, reason: error.message })
      this.rejected('inbound', connection.remoteAddress, error, peerId)
      return
    }
    let deliverFirst: (stream: TransportStream) => void = () => {}
    const firstStream = new Promise<TransportStream>((resolve) => {
      deliverFirst = resolve
    })
    let route = (stream: TransportStream): void => {
      route = (early) => early.reset(StreamResetCode.PROTOCOL_ERROR) // nothing may precede the handshake's end
      deliverFirst(stream)
    }
    connection.onStream((stream) => route(stream))
    let hello: HandshakeInfo
    const mode = this.config.reachability.check
    const observedIp = parseAddress(connection.remoteAddress)?.host ?? ''
    const describe = (claim: HandshakeInfo): ConnectionMethod => connection.method ?? this.describeInbound(claim)
    try {
      hello = await listenerHandshake(connection, firstStream, { ...this.handshakeOptions(), describe }, async (claim) => {
        if (mode !== 'refuse' || !this.mustCheck(claim)) return { accept: true }
        try {
          await this.reachability.check(peerId, claim.addresses ?? [], observedIp)
          return { accept: true }
        } catch (error) {
          return { accept: false, code: CloseCode.UNREACHABLE, error: asError(error) }
        }
      })
    } catch (error) {
      void connection.close({ code: CloseCode.PROTOCOL_ERROR, reason: asError(error).message })
      this.rejected('inbound', connection.remoteAddress, asError(error), peerId)
      return
    }
    if (hello.probe) {
      // A reachability probe only wanted our WELCOME: it closes; make sure it does.
      this.pending.delete(connection)
      const timer = setTimeout(() => void connection.close({ code: CloseCode.NORMAL, reason: 'probe answered' }), 5_000)
      void connection.closed.then(() => clearTimeout(timer))
      return
    }
    let established: Connection
    try {
      established = this.establish(
        connection,
        hello,
        (serve) => {
          route = serve
        },
        describe(hello),
      )
    } catch (error) {
      this.rejected('inbound', connection.remoteAddress, asError(error), peerId)
      return
    }
    if (established.transportConnection !== connection || !this.mustCheck(hello)) return
    if (mode === 'refuse') {
      this.events.emit('peer:verified', { peerId, reachable: true, addresses: hello.addresses ?? [] })
      return
    }
    // demote: a client until the dial-back succeeds.
    established.remoteRole = 'client'
    this.reachability.check(peerId, hello.addresses ?? [], observedIp).then(
      () => {
        established.remoteRole = 'node'
        this.events.emit('peer:verified', { peerId, reachable: true, addresses: hello.addresses ?? [] })
      },
      (error: unknown) => {
        this.logger.info(`peer ${peerId} treated as a client: ${asError(error).message}`)
        this.events.emit('peer:verified', { peerId, reachable: false, addresses: hello.addresses ?? [], error: asError(error) })
      },
    )
  }

  /** How an inbound connection was made, from what the dialer said in its HELLO. */
  private describeInbound(hello: HandshakeInfo): ConnectionMethod {
    if (hello.via !== undefined) return hello.via
    if (hello.target === undefined) return 'direct'
    for (const published of this.advertisedBy.values()) {
      const match = published.find((entry) => entry.address === hello.target)
      if (match !== undefined) return match.method
    }
    return 'direct'
  }

  /** Whether a peer's claim to be a node must be checked by dialling back. */
  private mustCheck(claim: HandshakeInfo): boolean {
    return claim.role === 'node' && !claim.probe && this.config.reachability.check !== 'off'
  }

  /**
   * Dial `address` on a fresh connection that is never pooled, check it is
   * `peerId`, exchange a probe handshake, and close.
   */
  private async probe(address: string, peerId: string, signal: AbortSignal): Promise<void> {
    const transport = this.transportFor(address)
    if (transport === undefined) throw new UnsupportedAddressError(address)
    if (this.blacklist.blocksIp(normalizeIp(parseAddress(address)?.host ?? ''))) throw new BlacklistedError(`${address} is blacklisted`)
    const connection = await transport.dial(address, { signal, expectedPeerId: peerId })
    const onAbort = (): void => void connection.close({ code: CloseCode.NORMAL, reason: 'probe cancelled' })
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await dialerHandshake(connection, { ...this.handshakeOptions(), probe: true })
    } finally {
      signal.removeEventListener('abort', onAbort)
      await connection.close({ code: CloseCode.NORMAL, reason: 'reachability probe done' })
    }
  }

  /** The addresses a peer told us it can be dialled at, in its handshake. */
  claimedAddresses(connection: Connection): readonly string[] {
    return this.claimed.get(connection) ?? []
  }

  /** Check whether `peerId` answers at one of `addresses` (a fresh connection, never pooled); resolves with that address. */
  checkReachable(peerId: string, addresses: readonly string[]): Promise<string> {
    return this.reachability.check(peerId, addresses)
  }

  /** The address a dial-back check recently verified `peerId` at, if any (for the bootstrap cache). */
  verifiedAddress(peerId: string): string | undefined {
    return this.reachability.verifiedAddress(peerId)
  }

  /**
   * Wrap a handshaken connection, pool it (resolving simultaneous opens), and
   * start serving its streams. Returns the pooled connection for its peer.
   */
  private establish(
    transportConnection: TransportConnection,
    remote: HandshakeInfo,
    setRoute?: (serve: (stream: TransportStream) => void) => void,
    method?: ConnectionMethod,
  ): Connection {
    this.pending.delete(transportConnection)
    try {
      this.makeRoom(transportConnection.remotePeer.peerId)
    } catch (error) {
      void transportConnection.close({ code: CloseCode.LIMIT_REACHED, reason: asError(error).message })
      throw error
    }
    const connection = new Connection(transportConnection, this.settings)
    connection.remoteRole = remote.role
    // Inbound: what the listener decided (`method`). Outbound: the transport's own say, else the listener's answer, else our hint.
    connection.method =
      transportConnection.direction === 'inbound'
        ? (method ?? 'direct')
        : (transportConnection.method ?? remote.method ?? method ?? 'direct')
    this.claimed.set(connection, remote.addresses ?? [])
    if (transportConnection.direction === 'outbound') {
      connection.observedAddress = remote.observed
      this.externalAddresses.record(transportConnection.transport, connection.peerId, remote.observed)
    }
    const context: ServeContext = {
      maxMessageSize: this.settings.maxMessageSize,
      budget: this.connectionBudget(),
      dispatch: (message) => this.dispatch(message),
      report: (error, fault) => this.reportPeerError(connection, error, fault),
      protocol: (protocolStream) => this.serveProtocol(protocolStream, connection),
    }
    const serve = (stream: TransportStream): void => void serveStream(stream, connection, context)
    if (setRoute) setRoute(serve)
    else transportConnection.onStream(serve)
    const { winner, loser } = this.pool.add(connection)
    void transportConnection.closed.then((info) => {
      this.pool.remove(connection)
      if (!this.announced.has(connection)) return
      this.logger.debug(`connection to ${connection.peerId} closed: ${info.reason} (code ${info.code})`)
      this.events.emit('connection:close', { connection, peerId: connection.peerId, ...info })
    })
    if (loser) {
      loser.replaceWith(winner)
      const reason = loser.method === 'relayed' ? 'replaced by a direct connection' : 'simultaneous open: another connection won'
      void loser.retire(CloseCode.DUPLICATE, reason, this.config.connection.requestTimeout)
    }
    if (winner === connection) {
      this.announced.add(connection)
      this.events.emit('connection:open', { connection })
    }
    return winner
  }

  /** A new connection's share of the node-wide budget for partly received messages. */
  private connectionBudget(): ConnectionBudget {
    if (this.messageBudget === undefined) this.messageBudget = createMessageBudget(this.config)
    return this.messageBudget.forConnection()
  }

  /** Hand a protocol stream to its service; false when no service serves that protocol. */
  private serveProtocol(stream: ProtocolStream, connection: Connection): boolean {
    const handler = this.protocols.get(stream.protocol)
    if (handler === undefined) return false
    if (stream.protocol !== PING_PROTOCOL) connection.markActive()
    try {
      handler(stream, connection)
    } catch (error) {
      stream.reset(StreamResetCode.PROTOCOL_ERROR)
      this.reportPeerError(connection, error, 'local')
    }
    return true
  }

  private async dispatch(message: IncomingMessage): Promise<Uint8Array | undefined | void> {
    this.events.emit('message', message)
    for (const queue of this.queues) {
      // A reader that stopped iterating closes its queue: forget it.
      await queue.push(message).catch(() => this.queues.delete(queue))
    }
    if (this.handler) return this.handler(message)
    if (message.isRequest) throw new Error('the peer has no request handler')
    return undefined
  }

  /** Close every connection the blacklist now covers, pooled or still handshaking. */
  private enforceBlacklist(): void {
    const pooled = this.pool.all().map((c) => c.transportConnection)
    for (const connection of new Set([...pooled, ...this.pending])) {
      const ip = normalizeIp(parseAddress(connection.remoteAddress)?.host ?? '')
      if (this.blacklist.isBlocked({ peerId: connection.remotePeer.peerId, ip })) {
        this.logger.info(`closing connection to blacklisted ${connection.remotePeer.peerId} (${connection.remoteAddress})`)
        void connection.close({ code: CloseCode.BLACKLISTED, reason: 'blacklisted' })
      }
    }
  }

  /** Count a secured connection as pending until it is pooled or closed (for limits, blacklist and stop). */
  private track(connection: TransportConnection): void {
    this.pending.add(connection)
    void connection.closed.then(() => this.pending.delete(connection))
  }

  private transportFor(address: string): Transport | undefined {
    return this.transports.find((t) => t.canDial(address))
  }

  private handshakeOptions(): HandshakeOptions {
    const addresses = this.config.role === 'client' ? [] : (this.config.externalAddresses ?? this.addresses())
    return {
      networkHash: this.networkHash,
      role: this.config.role,
      timeoutMs: this.config.connection.handshakeTimeout,
      addresses: addresses.slice(0, 32),
    }
  }

  private rejected(direction: 'inbound' | 'outbound', remoteAddress: string, error: Error, peerId?: string): void {
    // Every refusal is an event (each cost the peer a connection, and applications count them), but a
    // flood of them (e.g. junk handshakes) is a few log lines and one summary per interval.
    this.events.emit('connection:rejected', { direction, remoteAddress, peerId, error })
    if (!this.reports.admit(`${direction} refusals (${error.name})`)) return
    // Routine refusals (blacklist, limits) stay below the default level.
    const routine = error instanceof BlacklistedError || error instanceof ConnectionLimitError
    this.logger[routine ? 'info' : 'warn'](`${direction} connection ${remoteAddress} refused: ${error.message}`)
  }

  /**
   * A peer broke the protocol on a stream. Reports are throttled, and a peer
   * that keeps doing it (`maxProtocolErrors` within a minute) is disconnected.
   */
  private reportPeerError(connection: Connection, error: unknown, fault: 'peer' | 'local' = 'peer'): void {
    const err = asError(error)
    if (fault === 'peer' && isMisbehaviour(err)) this.countMisbehaviour(connection)
    if (!this.reports.admit(`peer errors (${err.name})`)) return
    this.logger.info(`peer ${connection.peerId}: ${err.message}`)
    this.events.emit('error', { error: err, context: fault === 'peer' ? 'incoming stream' : 'handler', peerId: connection.peerId })
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

/** Reports of one kind logged and emitted one by one per `reportInterval`; the rest are summarised. */
const REPORTS_PER_INTERVAL = 10

/** `address: reason`, without repeating the address when the reason already starts with it. */
function describeFailure(failure: { readonly address: string; readonly error: Error }): string {
  const { address, error } = failure
  return error.message.startsWith(address) ? error.message : `${address}: ${error.message}`
}

/** One dial attempt shared by every concurrent `connect` to the same peer. */
interface SharedDial {
  readonly promise: Promise<Connection>
  readonly controller: AbortController
  /** Callers still waiting; when the last one aborts, the attempt is cancelled. */
  callers: number
}

/** Wait for a shared dial; a caller's abort cancels the dial only if no other caller still wants it. */
function join(dial: SharedDial, signal: AbortSignal | undefined): Promise<Connection> {
  if (signal?.aborted) return Promise.reject(new AbortError())
  dial.callers++
  return new Promise<Connection>((resolve, reject) => {
    let left = false
    const leave = (): void => {
      if (left) return
      left = true
      signal?.removeEventListener('abort', onAbort)
      dial.callers--
    }
    const onAbort = (): void => {
      leave()
      if (dial.callers === 0) dial.controller.abort()
      reject(new AbortError())
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    dial.promise.then(
      (value) => {
        leave()
        resolve(value)
      },
      (error: unknown) => {
        leave()
        reject(error)
      },
    )
  })
}

/** The ping protocol's server side: echo each small frame until the stream ends. */
async function echoFrames(stream: ProtocolStream): Promise<void> {
  try {
    for (;;) {
      const frame = await stream.readFrame(64)
      if (frame === undefined) break
      await stream.writeFrame(frame)
    }
    await stream.end()
  } catch {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
  }
}
