/**
 * The service plugin contract. A service adds a capability on top of the
 * node's connections: NAT traversal (UPnP, STUN, hole punching, relay) is
 * built this way. Services speak their own protocols on protocol streams,
 * may advertise extra addresses, and may offer a {@link Connector} that the
 * connection manager calls when a direct dial fails.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection/connection.js'
import type { ProtocolStream } from '../connection/protocol-stream.js'
import type { Logger } from '../logger.js'
import type {
  ConnectionMethod,
  DatagramEndpoint,
  SecurityContext,
  TransportConnection,
  TransportLimits,
} from '../transport/types.js'

/** The node's view of the NAT it sits behind, as services learn it. */
export interface NatStatus {
  /** Reflexive UDP address of the node's datagram socket (where STUN servers or peers see it), e.g. `quic://203.0.113.10:40001`. */
  readonly reflexiveAddress: string | undefined
  /**
   * NAT mapping behaviour of the datagram socket (RFC 4787): `none` (the node
   * has a public address), `endpoint-independent` (hole punching works),
   * `endpoint-dependent` (symmetric NAT: needs a relay), or `unknown`.
   */
  readonly mapping: 'unknown' | 'none' | 'endpoint-independent' | 'endpoint-dependent'
  /** The UPnP gateway's state and the mappings it holds for this node. */
  readonly upnp: UpnpStatus
}

/** UPnP gateway state of a node. */
export interface UpnpStatus {
  /** `unknown` until looked for; `unavailable` (no gateway), `refused` (it would not map), `mapped`. */
  readonly state: 'unknown' | 'unavailable' | 'refused' | 'mapped'
  /** Gateway control URL, when found. */
  readonly gateway?: string
  /** The gateway's external IP, when it told us. */
  readonly externalIp?: string
  /** Port mappings held for this node. */
  readonly mappings: readonly PortMapping[]
  /** Why it is unavailable or refused, in plain words. */
  readonly reason?: string
}

/** One port mapping on a gateway. */
export interface PortMapping {
  readonly protocol: 'tcp' | 'udp'
  readonly internalPort: number
  readonly externalPort: number
  /** The address peers dial to use it, e.g. `tcp://198.51.100.7:40001`. */
  readonly address: string
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
}

/**
 * Connects to a peer that direct dials could not reach (e.g. by hole
 * punching or relaying). The connection manager calls connectors in order of
 * `priority` (lower first) after the direct attempt fails.
 */
export interface Connector {
  /** Lower runs first: hole punching (10) before relaying (20). */
  readonly priority: number
  /** Connect to `peerId`, or reject with a typed reason. The result must be pooled (made through the components). */
  connect(peerId: string, options: { signal: AbortSignal }): Promise<Connection>
}

/** Handles a protocol stream the remote opened. */
export type ProtocolHandler = (stream: ProtocolStream, connection: Connection) => void

/** What a service factory receives from the node. */
export interface ServiceComponents {
  /** This node's peer id. */
  readonly peerId: string
  /** SHA-256 hex of the network name. */
  readonly networkHash: string
  /** `node` or `client` (clients accept no inbound connections). */
  readonly role: 'node' | 'client'
  readonly logger: Logger
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
  /** The node's NAT status. */
  nat(): NatStatus
  /** Merge `patch` into the NAT status; emits `nat:change` when something changed. */
  updateNat(patch: Partial<NatStatus>): void
  /** Every pooled connection. */
  connections(): Connection[]
  /** The pooled connection to `peerId`. */
  connection(peerId: string): Connection | undefined
  /** The addresses a connected peer claims it can be dialled at. */
  claimedAddresses(connection: Connection): readonly string[]
  /**
   * Protect `peerId` from the connection pruner (e.g. a relay this node uses)
   * for `tag`; returns a function that releases this hold.
   */
  protect(peerId: string, tag: string): () => void
  /** True when the peer or IP is blacklisted. */
  isBlacklisted(peer: { peerId?: string; ip?: string }): boolean
  /** Serve a protocol; returns a function that stops serving it. */
  handleProtocol(protocol: string, handler: ProtocolHandler): () => void
  /** Dial one address, authenticate, handshake and pool (no retries, no connectors). */
  dial(address: string, options: ServiceDialOptions): Promise<Connection>
  /** Handshake a secured outbound connection a service made (e.g. over a relay) and pool it. */
  establishOutbound(connection: TransportConnection, options: { expectedPeerId: string; signal?: AbortSignal }): Promise<Connection>
  /**
   * Try the connectors whose priority is below `belowPriority`, in order (e.g.
   * a relay upgrading its relayed connection by hole punching). Rejects with a
   * `DialError` listing each connector's reason, or when none qualifies.
   */
  traverse(peerId: string, options: { belowPriority: number; signal?: AbortSignal }): Promise<Connection>
  /** Hand a secured inbound connection a service accepted (e.g. over a relay) to the core. */
  acceptInbound(connection: TransportConnection): void
  /** Tell the user something happened (the node emits it as `service:event`). */
  notify(event: ServiceEvent): void
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
