/**
 * The service plugin contract. A service adds a capability on top of the
 * node's connections: NAT traversal (UPnP, STUN, hole punching, relay) is
 * built this way. Services speak their own protocols on protocol streams,
 * may advertise extra addresses, and may offer a {@link Connector} that the
 * connection manager calls when a direct dial fails.
 *
 * @packageDocumentation
 */
import type { Logger } from '../logger.js'
import type { DiscoveredPeer, DiscoveryIdentity } from '../discovery/types.js'
import type { MetricsRecorder } from '../metrics/types.js'
import type {
  CloseInfo,
  ConnectionMethod,
  Direction,
  DatagramEndpoint,
  SecurityContext,
  TransportConnection,
  TransportLimits,
} from '../transport/types.js'

/**
 * What one traversal service (UPnP, STUN, or a third party's PCP, NAT-PMP or
 * TURN service) has learned about how peers reach this node. The words in
 * `kind` and `state` belong to the service that reports: the core stores the
 * latest report per kind, emits `nat:change`, and reads nothing in them.
 * `@crust/nat` reads its own reports back into its `NatStatus` with `natStatus()`.
 */
export interface TraversalReport {
  /**
   * Which mechanism this is about, e.g. `upnp`, `stun`, `pcp`: a name of the
   * {@link ConnectionMethod} form (`a-z`, `0-9`, `-`, starting with a letter, at most 32).
   */
  readonly kind: string
  /** The service's word for where it stands, e.g. `mapped`, `refused`, `endpoint-independent`. */
  readonly state: string
  /** Addresses peers can reach the node at through this mechanism (a reflexive address, port mappings). */
  readonly addresses?: readonly string[]
  /** Why, in plain words, when there is something to say (e.g. why a gateway refused). */
  readonly reason?: string
  /** The service's own details (JSON-serialisable), read back by the service's typed reader. */
  readonly details?: Readonly<Record<string, unknown>>
  /**
   * True when this mechanism makes the node dialable from anywhere (a port
   * mapping held on the gateway, a public address with no NAT). The core
   * reads only this: discovery's tie-break lets the side that can reach the
   * other dial first (see `DiscoveredPeer.reachable`).
   */
  readonly reachable?: boolean
}

/** The latest {@link TraversalReport} of each kind. */
export type TraversalStatus = Readonly<Record<string, TraversalReport>>

/**
 * A stream of a service protocol, as a service sees it: length-prefixed
 * frames for control messages, raw bytes for piping. Core's `ProtocolStream`
 * is one.
 */
export interface ServiceStream extends AsyncIterable<Uint8Array> {
  /** The protocol name, e.g. `/crust/relay/1`. */
  readonly protocol: string
  /** Write raw bytes (`end` closes our side after them). */
  write(data: Uint8Array, options?: { end?: boolean }): Promise<void>
  /** Close our side; the remote may still write. */
  end(): Promise<void>
  /** Abort both directions with a reset code (a `StreamResetCode`). */
  reset(code?: number): void
  /** Write one length-prefixed frame. */
  writeFrame(data: Uint8Array, options?: { end?: boolean }): Promise<void>
  /** Read one length-prefixed frame of at most `maxSize` bytes; `undefined` when the remote ended. */
  readFrame(maxSize: number): Promise<Uint8Array | undefined>
}

/**
 * A pooled connection to an authenticated peer, as a service sees it: what a
 * service may read and call. Core's `Connection` is one.
 */
export interface ServiceConnection {
  /** The remote's peer id (authenticated by TLS). */
  readonly peerId: string
  /** The transport carrying it, e.g. `quic`. */
  readonly transport: string
  readonly direction: Direction
  /** The remote's address as the transport sees it. */
  readonly remoteAddress: string
  readonly localAddress: string
  /** How the path was made, e.g. `direct`, `punched`, `relayed`. */
  readonly method: ConnectionMethod
  /** `node` or `client` (a client accepts no inbound connections). */
  readonly remoteRole: 'node' | 'client'
  /** Address the remote reported seeing us at, when it told us. */
  readonly observedAddress: string | undefined
  /** The transport-level connection underneath (e.g. to tell which of two was pooled). */
  readonly transportConnection: TransportConnection
  /** Resolves when the connection has closed. */
  readonly closed: Promise<CloseInfo>
  /** Open a stream of a service protocol; the remote must serve `protocol`. */
  openProtocolStream(protocol: string, options?: { signal?: AbortSignal }): Promise<ServiceStream>
  /**
   * Measure the round-trip time (ms): resolves when the peer answered, rejects
   * with `TimeoutError` after `timeout` ms (e.g. to check a path a service suspects is dead).
   */
  ping(options?: { timeout?: number; signal?: AbortSignal }): Promise<number>
  close(reason?: string): Promise<void>
}

/** An address a service publishes for the node, and how a connection through it is made. */
export interface AdvertisedAddress {
  readonly address: string
  readonly method: ConnectionMethod
}

/** Options for {@link ServiceComponents.dial}. */
export interface ServiceDialOptions {
  /** The peer that must answer. */
  readonly peerId: string
  /** How this dial's path was made, told to the listener in the handshake (e.g. `punched`). */
  readonly method?: ConnectionMethod
  readonly signal?: AbortSignal
  /** Dial from a socket of its own bound to this local port (see the transport's `DialOptions.localPort`). */
  readonly localPort?: number
}

/**
 * Connects to a peer that direct dials could not reach (e.g. by hole
 * punching or relaying). The connection manager calls connectors in order of
 * `priority` (lower first) after the direct attempt fails.
 */
export interface Connector {
  /** Lower runs first: hole punching (10) before relaying (20). */
  readonly priority: number
  /**
   * Connect to `peerId`, or reject with a typed reason. The result must be
   * pooled (made through the components). Reject with an error made with
   * `{ permanent: true }` (see `CrustError.permanent`) when no retry can
   * succeed (e.g. the connector needs a transport the node lacks): if every
   * way to the peer failed permanently, `connect()` rejects at once instead
   * of retrying with backoff.
   */
  connect(peerId: string, options: { signal: AbortSignal }): Promise<ServiceConnection>
}

/** Handles a protocol stream the remote opened. */
export type ProtocolHandler = (stream: ServiceStream, connection: ServiceConnection) => void

/** What a service factory receives from the node. */
export interface ServiceComponents {
  /** This node's peer id. */
  readonly peerId: string
  /** SHA-256 hex of the network name. */
  readonly networkHash: string
  /** `node` or `client` (clients accept no inbound connections). */
  readonly role: 'node' | 'client'
  readonly logger: Logger
  /**
   * The node's metrics backend (the no-op one unless the application
   * configured `metrics`): a service registers its own metrics on it, e.g.
   * `crust_relay_circuits`. Name them `crust_<service>_...`; labels from small
   * fixed sets only. Optional so test doubles of this interface need not provide it.
   */
  readonly metrics?: MetricsRecorder
  /** TLS material and peer verification, for services that secure their own connections (e.g. over a relay). */
  readonly security: SecurityContext
  /** The timing and stream limits transports get, for services that make connections. */
  readonly limits: TransportLimits
  /** Addresses the transports are bound to (wildcards expanded). */
  listenAddresses(): string[]
  /** Every address the node advertises (transport addresses plus what services publish). */
  addresses(): string[]
  /**
   * Replace what this service advertises (pass `[]` to withdraw). Throws
   * `ConfigError` when an entry's `method` is not a well-formed
   * {@link ConnectionMethod} name.
   */
  advertise(addresses: readonly AdvertisedAddress[]): void
  /** Raw datagrams on a transport's socket (`quic`), when that transport is configured and offers them. */
  datagrams(transport: string): DatagramEndpoint | undefined
  /** Where peers' echoes say we are, per transport. */
  externalAddresses(): Record<string, string[]>
  /** The latest traversal report of every kind (what every service reported). */
  traversal(): TraversalStatus
  /**
   * Replace the report of `report.kind`; emits `nat:change` when it changed.
   * Throws `ConfigError` when `kind` is not a well-formed name.
   */
  reportTraversal(report: TraversalReport): void
  /** Every pooled connection. */
  connections(): ServiceConnection[]
  /** The pooled connection to `peerId`. */
  connection(peerId: string): ServiceConnection | undefined
  /** The addresses a connected peer claims it can be dialled at. */
  claimedAddresses(connection: ServiceConnection): readonly string[]
  /**
   * Protect `peerId` from the connection pruner (e.g. a relay this node uses)
   * for `tag`; returns a function that releases this hold.
   */
  protect(peerId: string, tag: string): () => void
  /**
   * Keep `peerId` connected (a peer this service relies on: a relay, a
   * rendezvous): whenever its last connection closes, the node's keeper
   * reconnects it with backoff through every way the node has, starting
   * with `addresses` and the addresses it learns. Returns a function that
   * releases this hold; the peer stays kept while anyone (the application,
   * another hold) keeps it. Every hold of a service is released when it stops.
   */
  keep(peerId: string, addresses: readonly string[]): () => void
  /** True when the peer or IP is blacklisted. */
  isBlacklisted(peer: { peerId?: string; ip?: string }): boolean
  /** Serve a protocol; returns a function that stops serving it. */
  handleProtocol(protocol: string, handler: ProtocolHandler): () => void
  /** Dial one address, authenticate, handshake and pool (no retries, no connectors). */
  dial(address: string, options: ServiceDialOptions): Promise<ServiceConnection>
  /** Handshake a secured outbound connection a service made (e.g. over a relay) and pool it. */
  establishOutbound(connection: TransportConnection, options: { expectedPeerId: string; signal?: AbortSignal }): Promise<ServiceConnection>
  /**
   * Try the connectors whose priority is below `belowPriority`, in order (e.g.
   * a relay upgrading its relayed connection by hole punching). Rejects with a
   * `DialError` listing each connector's reason, or when none qualifies.
   */
  traverse(peerId: string, options: { belowPriority: number; signal?: AbortSignal }): Promise<ServiceConnection>
  /**
   * Hand a secured inbound connection a service accepted (e.g. over a relay)
   * to the core. Resolves once the core's handshake on it ended: the
   * connection is pooled, or it was refused and closed (the core reports
   * that itself). Never rejects.
   */
  acceptInbound(connection: TransportConnection): Promise<void>
  /** Tell the user something happened (the node emits it as `service:event`). */
  notify(event: ServiceEvent): void
  /**
   * Subscribe to connections found dead (`CloseCode.PATH_LOST`): the network
   * under the node may have changed (a NAT that rebooted, a moved address),
   * so what a service learnt about it (its reflexive address) may be stale.
   * Returns the unsubscribe; a service's subscriptions end when it stops.
   * Optional so test doubles of this interface need not provide it.
   */
  onPathLost?(listener: (peerId: string) => void): () => void
  /**
   * Subscribe to suspicions that the network under the node changed: a path
   * went silent (its probe unanswered) or was found dead, and the node is
   * checking its other paths. Sooner than {@link onPathLost}: what a service
   * learnt about the network (its reflexive address) may be stale, and a
   * fresh answer is needed before peers try to reach the node again. Called
   * at most once per `connection.pathTimeout`, with the silent path's peer.
   * Returns the unsubscribe; a service's subscriptions end when it stops.
   * Optional so test doubles of this interface need not provide it.
   */
  onNetworkChange?(listener: (peerId: string) => void): () => void
  /**
   * The node's identity, to sign what a service publishes about the node
   * (e.g. a rendezvous peer record) and check what others signed.
   * Optional so test doubles of this interface need not provide it.
   */
  readonly identity?: DiscoveryIdentity
  /**
   * For services that discover peers (e.g. a rendezvous client): report one,
   * as a discovery plugin's `peerDiscovered` does (emits `peer:discovered`).
   * Optional so test doubles of this interface need not provide it.
   */
  peerDiscovered?(peer: DiscoveredPeer): void
  /**
   * For services that discover peers: connect to one within the node-wide
   * `autoConnect` budget, as a discovery plugin's `connect` does (no-op when
   * connected; failures are logged, never thrown).
   * Optional so test doubles of this interface need not provide it.
   */
  connectDiscovered?(peer: DiscoveredPeer): Promise<void>
}

/** A notice from a service, emitted by the node as `service:event`. */
export interface ServiceEvent {
  /** The service id, e.g. `upnp`. */
  readonly service: string
  /** What happened, e.g. `mapped`, `unavailable`, `punch:failed`. */
  readonly type: string
  /** Plain words. */
  readonly message: string
  readonly peerId?: string
}

/** A service plugin instance. */
export interface Service {
  /** Short id, e.g. `upnp`, `stun`, `holepunch`, `relay`. */
  readonly id: string
  /** Optional: reach peers that direct dials cannot. */
  readonly connector?: Connector
  /** Start; called after the transports listen. A failure is logged and the service left out. */
  start(): Promise<void>
  /** Stop; called before connections close (e.g. to remove port mappings). */
  stop(): Promise<void>
}

/** A service plugin as users pass it in config: `upnp(options)` returns one. */
export type ServiceFactory = (components: ServiceComponents) => Service
