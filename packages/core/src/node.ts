import 'reflect-metadata'
import { type DependencyContainer, instanceCachingFactory, container as rootContainer } from 'tsyringe'
import type { NodeConfig, NodeConfigInput } from './config/schema.js'
import { parseConfig } from './config/parse.js'
import type { Connection, SendOptions } from './connection/connection.js'
import { hashNetworkName } from './connection/handshake.js'
import type { IncomingMessage, MessageHandler } from './connection/incoming.js'
import type { CrustStream, OpenStreamOptions } from './connection/crust-stream.js'
import { checkAppProtocolName } from './connection/protocol-name.js'
import type { HandleOptions, HandleStreamOptions, StreamHandler } from './manager/app-protocols.js'
import type { Registrar } from './manager/registrar.js'
import { Tokens } from './di/tokens.js'
import { NotStartedError } from './errors.js'
import { TypedEmitter } from './events/emitter.js'
import type { NodeEvents } from './events/node-events.js'
import { createIdentity, loadCaFiles, loadCaIdentity, type NodeIdentity } from './identity/identity.js'
import { createSecurityContext } from './identity/security.js'
import { createSigningIdentity } from './identity/signing.js'
import { isReachable } from './discovery/dial-order.js'
import { DiscoveryService } from './discovery/discovery-service.js'
import { ServiceHost } from './service/service-host.js'
import type { SecurityContext } from './transport/types.js'
import type { Service, TraversalStatus } from './service/types.js'
import { BootstrapCache, defaultCachePath } from './bootstrap/bootstrap-cache.js'
import { type BootstrapCandidate, Bootstrapper } from './bootstrap/bootstrapper.js'
import { createLogger, type Logger } from './logger.js'
import { Blacklist } from './manager/blacklist.js'
import type { ConnectOptions, ConnectionManager, PeerContact } from './manager/connection-manager.js'
import { registerManagerParts } from './manager/container.js'
import { ConnectionPool } from './manager/pool.js'
import { errorMessage } from './error-text.js'
import { NodeMetrics } from './metrics/node-metrics.js'
import { noopMetrics } from './metrics/noop.js'

/**
 * A Crust node: one identity, the transports it was given, and the connection
 * manager that pools, dials, races, retries and blacklists. Create it with
 * {@link createNode}.
 */
export class CrustNode {
  private state: 'stopped' | 'running' = 'stopped'

  /** @internal Use {@link createNode}. */
  constructor(
    /** The validated configuration. */
    readonly config: NodeConfig,
    private readonly identity: NodeIdentity,
    private readonly manager: ConnectionManager,
    private readonly discovery: DiscoveryService,
    private readonly bootstrapper: Bootstrapper,
    private readonly services: ServiceHost,
    private readonly events: TypedEmitter<NodeEvents>,
    /** The node's logger (plugins log through children of it). */
    readonly logger: Logger,
    private readonly registrar: Registrar,
  ) {}

  /** This node's peer id, derived from its public key. */
  get peerId(): string {
    return this.identity.peerId
  }

  /** Addresses other peers can dial, e.g. `tcp://127.0.0.1:40001`. Empty until started (and for clients). */
  get addresses(): string[] {
    return this.manager.addresses()
  }

  /** Peer ids, IPs and CIDRs this node refuses. Adding an entry closes every matching connection at once. */
  get blacklist(): Blacklist {
    return this.manager.blacklist
  }

  /** PEM of the certificate this node presents. */
  get certificatePem(): string {
    return this.identity.certificatePem
  }

  /** Every established connection, one per peer. */
  get connections(): Connection[] {
    return this.manager.pool.all()
  }

  /**
   * Never prune the connection to `peerId` when the node is full (the
   * connection limit then admits newcomers only by closing unprotected,
   * idle connections). Bootstrap contacts and relays in use are protected
   * already. Lasts until {@link CrustNode.unprotect}.
   */
  protect(peerId: string): void {
    this.manager.protect(peerId, 'app')
  }

  /** Undo {@link CrustNode.protect} (other holds, e.g. a bootstrap contact's, stay). */
  unprotect(peerId: string): void {
    this.manager.protection.unprotect(peerId, 'app')
  }

  /** Whether the connection to `peerId` is protected from pruning, by the application or by the node itself. */
  isProtected(peerId: string): boolean {
    return this.manager.protection.has(peerId)
  }

  /**
   * Keep `peer` connected: connect it now (when running and not connected)
   * and, whenever its last connection closes, reconnect it with backoff
   * through every way the node has (its addresses, hole punching, relays)
   * until {@link CrustNode.unkeep}. Give a contact, or a peer id the node
   * can reach through its services or has addresses for. The events
   * `peer:disconnected` and `peer:reconnected` (with the gap) tell how it goes.
   */
  keep(peer: string | (PeerContact & { readonly peerId: string })): void {
    this.manager.keeper.keep(typeof peer === 'string' ? { peerId: peer, addresses: [] } : peer)
  }

  /** Stop keeping `peerId` connected (its connection, if any, stays until it closes). */
  unkeep(peerId: string): void {
    this.manager.keeper.release(peerId)
  }

  /**
   * Deliver `data` to the peer `peerId`, whatever connection that takes:
   * the current one, or, when there is none or it dies before the peer
   * acknowledged the message, the next one (made by the node: the peer's
   * known addresses, hole punching, relays; or by `keep`). The peer's node
   * delivers it once, however often it had to be sent. Resolves when the
   * peer's node has it; rejects only at the deadline (`timeout`, default
   * `connection.requestTimeout`) with `TimeoutError`, on abort, on a typed
   * refusal by the peer (e.g. `MessageTooLargeError`), or with
   * `DeliveryUnknownError` when the peer restarted after the message was
   * handed to it (it is then not resent: at most once across a restart).
   */
  send(peerId: string, data: Uint8Array, options?: SendOptions): Promise<void> {
    if (this.state !== 'running') return Promise.reject(new NotStartedError())
    return this.manager.messenger.send(peerId, data, options)
  }

  /**
   * A request addressed to the peer `peerId`, delivered as {@link CrustNode.send}
   * delivers a message: its handler runs once, and a request resent after a
   * lost connection gets the answer given the first time (kept up to 1 MiB
   * per sender; beyond that it rejects with `DeliveryUnknownError` rather
   * than running twice).
   */
  request(peerId: string, data: Uint8Array, options?: SendOptions): Promise<Uint8Array> {
    if (this.state !== 'running') return Promise.reject(new NotStartedError())
    return this.manager.messenger.request(peerId, data, options)
  }

  /** Peer ids kept connected (config `keep` and {@link CrustNode.keep}). */
  get kept(): string[] {
    return this.manager.keeper.peers
  }

  /** True between `start()` and `stop()`. */
  get isRunning(): boolean {
    return this.state === 'running'
  }

  /** Start the transports and listen. */
  async start(): Promise<void> {
    if (this.state === 'running') return
    await this.manager.start()
    await this.services.start()
    await this.discovery.start()
    await this.bootstrapper.start()
    this.state = 'running'
    this.logger.info(`node ${this.peerId} listening on ${this.addresses.join(', ') || 'nothing (client)'}`)
    if (this.config.bootstrap.onStart) {
      // A node that cannot join yet is still up: it can be joined, and rebootstrap() later.
      await this.bootstrapper.bootstrap().catch((error: unknown) => {
        this.logger.warn(`bootstrap at start failed: ${errorMessage(error)}`)
      })
    }
  }

  /** Close every connection and stop listening. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    await this.discovery.stop()
    await this.bootstrapper.stop()
    await this.services.stop()
    await this.manager.stop()
  }

  /**
   * Connect to a peer (or reuse the pooled connection). A bare `{ peerId }`
   * (no addresses) is reached through the services' connectors: e.g. a
   * rendezvous lookup of the peer's signed record, then hole punching, relays.
   */
  connect(peer: PeerContact | { readonly peerId: string }, options?: ConnectOptions): Promise<Connection> {
    if (this.state !== 'running') return Promise.reject(new NotStartedError())
    return this.manager.connect('addresses' in peer ? peer : { peerId: peer.peerId, addresses: [] }, options)
  }

  /** Race all candidates; keep the first connection to succeed and close the rest. */
  connectAny(peers: readonly PeerContact[], options?: ConnectOptions): Promise<Connection> {
    if (this.state !== 'running') return Promise.reject(new NotStartedError())
    return this.manager.connectAny(peers, options)
  }

  /**
   * Join the network: LAN peers, then the bootstrap cache, then hard-coded
   * contacts. Resolves to the connection it joined through (the previous one
   * while it is open); rejects with `BootstrapError` listing every candidate's reason.
   */
  bootstrap(options?: { signal?: AbortSignal }): Promise<Connection> {
    if (this.state !== 'running') return Promise.reject(new NotStartedError())
    return this.bootstrapper.bootstrap(options)
  }

  /** Bootstrap afresh, even when already joined. */
  rebootstrap(options?: { signal?: AbortSignal }): Promise<Connection> {
    if (this.state !== 'running') return Promise.reject(new NotStartedError())
    return this.bootstrapper.rebootstrap(options)
  }

  /** Replace the hard-coded bootstrap contacts at run time. */
  setContacts(contacts: ReadonlyArray<{ peerId: string; addresses: readonly string[] }>): void {
    this.bootstrapper.setContacts(contacts)
  }

  /** The bootstrap candidates the next bootstrap would try, in order. */
  bootstrapCandidates(): BootstrapCandidate[] {
    return this.bootstrapper.candidates()
  }

  /** Where peers see this node, per transport (from their echo), e.g. `{ quic: ['quic://203.0.113.7:40001'] }`. */
  get externalAddresses(): Record<string, string[]> {
    return this.manager.externalAddresses.addresses()
  }

  /** The addresses a connected peer claims it can be dialled at. */
  claimedAddresses(connection: Connection): readonly string[] {
    return this.manager.claimedAddresses(connection)
  }

  /**
   * What the node's traversal services reported, the latest report of each
   * kind (e.g. `stun`, `upnp`). `natStatus(node.nat)` from `@crust/nat` reads
   * it as a `NatStatus` (reflexive address, mapping behaviour, UPnP mappings).
   */
  get nat(): TraversalStatus {
    return this.services.traversal
  }

  /** The service plugins that started. */
  get runningServices(): readonly Service[] {
    return this.services.running
  }

  /** The pooled connection to `peerId`, if any. */
  getConnection(peerId: string): Connection | undefined {
    return this.manager.pool.get(peerId)
  }

  /**
   * Handle incoming messages; return a `Uint8Array` to answer a request.
   *
   * With a handler alone: the default protocol, the messages sent without a
   * `protocol` (replaces any previous default handler; `undefined` removes it).
   *
   * With a protocol name first (e.g. `'/chat/1'`: a `/` then 1 to 127 of
   * `A-Z a-z 0-9 / . _ - + ~ : @`): the messages sent with
   * `{ protocol: '/chat/1' }`. A peer's message for a protocol nothing
   * handles is refused before it is acknowledged (`ProtocolNotSupportedError`
   * at the sender). Handling a protocol twice throws `ProtocolInUseError`
   * unless `{ replace: true }`; a malformed name throws `ConfigError`.
   *
   * @example
   * ```ts
   * node.handle('/chat/1', (message) => console.log(`${message.peerId}: ${message.data}`))
   * await connection.send(Buffer.from('hi'), { protocol: '/chat/1' })
   * ```
   */
  handle(handler: MessageHandler | undefined): void
  handle(protocol: string, handler: MessageHandler, options?: HandleOptions): void
  handle(first: string | MessageHandler | undefined, handler?: MessageHandler, options?: HandleOptions): void {
    if (typeof first === 'string') this.registrar.handleMessages(first, handler as MessageHandler, options)
    else this.manager.handle(first)
  }

  /**
   * Handle the byte streams peers open for `protocol`
   * (`connection.openStream(protocol)`, `node.openStream(peerId, protocol)`).
   * The handler gets each stream (a `CrustStream`, a Node `Duplex`) and its
   * connection. `options` bound what peers may open: `maxInboundStreams`
   * (all peers, default 1024), `maxStreamsPerPeer` (default 32) and
   * `idleTimeout` (ms without a byte either way, default 60 000); a stream
   * beyond a limit is refused (`LimitExceededError` at the opener). Handling
   * a protocol's streams twice throws `ProtocolInUseError` unless `{ replace: true }`.
   *
   * @example
   * ```ts
   * node.handleStream('/echo/1', (stream) => stream.pipe(stream))
   * const stream = await node.openStream(peerId, '/echo/1')
   * ```
   */
  handleStream(protocol: string, handler: StreamHandler, options?: HandleStreamOptions): void {
    this.registrar.handleStreams(protocol, handler, options)
  }

  /** Stop handling `protocol`, its messages and its streams (streams open now stay open). True when it was handled. */
  unhandle(protocol: string): boolean {
    return this.registrar.unhandle(protocol)
  }

  /**
   * The application protocols this node handles (messages or streams),
   * sorted. Peers learn the first 32 in the handshake, and again when the
   * list changes (`connection.remoteProtocols`, the `peer:protocols` event).
   */
  get protocols(): string[] {
    return this.registrar.appProtocols()
  }

  /**
   * Open a byte stream for `protocol` to the peer `peerId`, over its current
   * connection or one made for it (as {@link CrustNode.send} does), within
   * `options.timeout` (default `connection.requestTimeout`) for both the
   * connection and the peer's acceptance. Rejects as
   * `Connection.openStream` does (`ProtocolNotSupportedError`,
   * `LimitExceededError`, `TimeoutError`, `AbortError`).
   */
  async openStream(peerId: string, protocol: string, options: OpenStreamOptions = {}): Promise<CrustStream> {
    if (this.state !== 'running') throw new NotStartedError()
    checkAppProtocolName(protocol)
    const timeout = options.timeout ?? this.config.connection.requestTimeout
    const started = performance.now()
    const connection = await this.manager.messenger.connectionTo(peerId, { timeout, signal: options.signal })
    return connection.openStream(protocol, { ...options, timeout: Math.max(1, timeout - (performance.now() - started)) })
  }

  /** Incoming messages as an async iterator (requests still need a handler to be answered). */
  messages(capacity?: number): AsyncIterable<IncomingMessage> {
    return this.manager.messages(capacity)
  }

  /** Subscribe to an event; returns an unsubscribe function. */
  on<E extends keyof NodeEvents & string>(event: E, listener: (payload: NodeEvents[E]) => void): () => void {
    return this.events.on(event, listener)
  }

  /** Unsubscribe a listener. */
  off<E extends keyof NodeEvents & string>(event: E, listener: (payload: NodeEvents[E]) => void): void {
    this.events.off(event, listener)
  }

  /** Resolve with the next payload of `event`. */
  once<E extends keyof NodeEvents & string>(event: E, options?: { signal?: AbortSignal }): Promise<NodeEvents[E]> {
    return this.events.once(event, options?.signal)
  }
}

/** Options of {@link createNode} beyond the configuration. */
export interface CreateNodeOptions {
  /**
   * A tsyringe container whose providers take precedence over the node's
   * own: register a replacement for one of the `Tokens` (e.g. the
   * `Traversal` or the `Admission` policy) in it, and the node uses yours.
   * Each node still gets a child container of its own.
   */
  readonly container?: DependencyContainer
}

/**
 * Create a node from a configuration object. The configuration is validated
 * first (a `ConfigError` names every bad field), the identity is loaded or
 * generated, and the connection manager's parts are wired through a
 * dependency-injection container of the node's own (see `Tokens`).
 *
 * @example
 * ```ts
 * const node = await createNode({ networkName: 'demo', transports: [tcp()] })
 * await node.start()
 * ```
 */
export async function createNode(input: NodeConfigInput, options: CreateNodeOptions = {}): Promise<CrustNode> {
  const config = parseConfig(input)
  const logger = createLogger(config.logLevel, 'crust', config.logSink)
  const identity = await loadIdentity(config, logger)
  const security = createSecurityContext(identity, {
    mode: config.auth.mode,
    ca: config.auth.mode === 'ca' ? await loadCaFiles(config.auth.ca) : [],
  })
  const nodeLogger = logger.child(identity.peerId.slice(0, 12), { node: identity.peerId })
  const events = new TypedEmitter<NodeEvents>({
    onListenerError: (error, event) => nodeLogger.warn(`a listener of '${String(event)}' threw: ${String(error)}`),
  })
  const blacklist = new Blacklist([...config.blacklist.peers, ...config.blacklist.ips])

  const scope = (options.container ?? rootContainer).createChildContainer()
  scope.register(Tokens.Config, { useValue: config })
  scope.register(Tokens.Logger, { useValue: nodeLogger })
  scope.register(Tokens.Security, { useValue: security })
  scope.register(Tokens.Events, { useValue: events })
  scope.register(Tokens.Blacklist, { useValue: blacklist })
  scope.register(Tokens.NetworkHash, { useValue: hashNetworkName(config.networkName) })
  const metrics = new NodeMetrics(config.metrics ?? noopMetrics, events, config.metrics !== undefined)
  scope.register(Tokens.Metrics, { useValue: metrics })
  if (!scope.isRegistered(Tokens.Pool, true)) scope.register(Tokens.Pool, { useValue: new ConnectionPool(identity.peerId) })
  registerManagerParts(scope)
  scope.register(Tokens.Identity, { useValue: identity })
  registerNodeParts(scope, config, identity, security, nodeLogger)
  const manager = scope.resolve<ConnectionManager>(Tokens.ConnectionManager)
  const discovery = scope.resolve<DiscoveryService>(Tokens.Discovery)
  const bootstrapper = scope.resolve<Bootstrapper>(Tokens.Bootstrapper)
  const services = scope.resolve<ServiceHost>(Tokens.Services)
  const registrar = scope.resolve<Registrar>(Tokens.Registrar)
  metrics.watchTraversal(() => services.traversal)
  return new CrustNode(config, identity, manager, discovery, bootstrapper, services, events, nodeLogger, registrar)
}

/**
 * The node's parts beside the connection manager (discovery host,
 * bootstrap cache, bootstrapper, service host), each made once per node
 * unless the container already provides its token (see `Tokens`).
 */
function registerNodeParts(scope: DependencyContainer, config: NodeConfig, identity: NodeIdentity, security: SecurityContext, logger: Logger): void {
  const networkHash = hashNetworkName(config.networkName)
  const provide = <T>(token: symbol, make: (c: DependencyContainer) => T): void => {
    if (!scope.isRegistered(token, true)) scope.register(token, { useFactory: instanceCachingFactory(make) })
  }
  const events = (c: DependencyContainer): TypedEmitter<NodeEvents> => c.resolve<TypedEmitter<NodeEvents>>(Tokens.Events)
  const manager = (c: DependencyContainer): ConnectionManager => c.resolve<ConnectionManager>(Tokens.ConnectionManager)
  const signing = createSigningIdentity(identity.peerId, identity.privateKey)
  provide(
    Tokens.Discovery,
    (c) =>
      new DiscoveryService(
        config.discovery,
        signing,
        networkHash,
        manager(c),
        events(c),
        logger,
        config.autoConnect,
        // Resolved when first asked: the service host is made after discovery (it hands services discovery's hooks).
        () => isReachable(c.resolve<ServiceHost>(Tokens.Services).traversal),
      ),
  )
  provide(
    Tokens.BootstrapCache,
    (c) => {
      let bootstrapper: Bootstrapper | undefined
      return new BootstrapCache({
        path: config.bootstrap.cache ? defaultCachePath(networkHash, config.bootstrap.cacheDir, config.bootstrap.cacheName) : undefined,
        network: networkHash,
        size: config.bootstrap.cacheSize,
        maxFailures: config.bootstrap.maxFailures,
        addressesPerPeer: config.bootstrap.cacheAddressesPerPeer,
        peersPerIp: config.bootstrap.cachePeersPerIp,
        // The contacts are never cached; resolved when the cache first needs them (the bootstrapper is made after it).
        exclude: () => {
          bootstrapper ??= c.resolve<Bootstrapper>(Tokens.Bootstrapper)
          return bootstrapper.excludedIds()
        },
        logger: logger.child('bootstrap'),
      })
    },
  )
  provide(
    Tokens.Bootstrapper,
    (c) =>
      new Bootstrapper(
        config.bootstrap,
        identity.peerId,
        manager(c),
        c.resolve<DiscoveryService>(Tokens.Discovery),
        c.resolve<BootstrapCache>(Tokens.BootstrapCache),
        events(c),
        logger.child('bootstrap'),
      ),
  )
  provide(
    Tokens.Services,
    (c) =>
      new ServiceHost(
        config.services,
        {
          peerId: identity.peerId,
          networkHash,
          role: config.role,
          security,
          limits: manager(c).limits,
          metrics: c.resolve<NodeMetrics>(Tokens.Metrics).recorder,
        },
        manager(c),
        events(c),
        logger.child('service'),
        c.resolve<DiscoveryService>(Tokens.Discovery),
      ),
  )
}

async function loadIdentity(config: NodeConfig, logger: Logger): Promise<NodeIdentity> {
  const { auth } = config
  if (auth.mode === 'ca' && auth.certFile !== undefined && auth.keyFile !== undefined) {
    return loadCaIdentity({ certFile: auth.certFile, keyFile: auth.keyFile })
  }
  const { identity, warnings } = await createIdentity({ keyFile: config.identity.keyFile })
  for (const warning of warnings) logger.warn(warning)
  return identity
}
