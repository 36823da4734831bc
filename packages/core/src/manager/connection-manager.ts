/**
 * The connection manager: policy for every connection the node has. It is
 * made of parts that each own one concept, wired through the node's
 * dependency-injection container (see `Tokens`):
 *
 * - `TransportHost`: transports, listening, the node's addresses;
 * - `Registrar`: the message handler, `messages()` readers, service protocols;
 * - `Admission`: the inbound gate, per-address limits, pruning, the blacklist;
 * - `Establisher`: a handshaken connection into the pool, served;
 * - `Dialer`: outbound connections (shared dials, racing, retries);
 * - `Traversal`: the services' connectors (hole punching, relaying);
 * - `Acceptor`: inbound connections and reachability checks;
 * - `PeerReports`: refusals, peer errors, misbehaviour;
 * - `PeerPresence`: peer-level events (connected, disconnected, reconnected);
 * - `KeepAlive`: keep-alives for peers with shorter idle timeouts and NAT mappings that expire sooner;
 * - `PeerKeeper`: reconnects the peers the application keeps;
 * - `PeerMessenger`: messages addressed to a peer, delivered once across reconnections.
 *
 * This class starts and stops them together and is their public face; a new
 * feature belongs in the part that owns its concept, not here.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import type { Connection } from '../connection/connection.js'
import type { IncomingMessage, MessageHandler } from '../connection/incoming.js'
import { Tokens } from '../di/tokens.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { AdvertisedAddress, Connector, ProtocolHandler } from '../service/types.js'
import {
  CloseCode,
  type ConnectionGate,
  type ConnectionMethod,
  type SecurityContext,
  type Transport,
  type TransportConnection,
  type TransportLimits,
} from '../transport/types.js'
import type { Acceptor } from './acceptor.js'
import type { Admission } from './admission.js'
import type { Blacklist } from './blacklist.js'
import type { ConnectOptions, Dialer, PeerContact } from './dialer.js'
import type { Establisher } from './establisher.js'
import type { ExternalAddressBook } from './external-addresses.js'
import type { KeepAlive } from './keep-alive.js'
import type { PeerKeeper } from './peer-keeper.js'
import type { PeerMessenger } from './peer-messenger.js'
import type { PeerReports } from './peer-reports.js'
import type { ProtocolUpdates } from './protocol-updates.js'
import type { ConnectionPool } from './pool.js'
import type { ProtectedPeers } from './protection.js'
import type { Registrar } from './registrar.js'
import type { RunState } from './run-state.js'
import type { TransportHost } from './transport-host.js'
import type { Traversal } from './traversal.js'

export type { ConnectOptions, PeerContact } from './dialer.js'

/** Starts and stops the manager's parts together, and is their public face. */
@injectable()
export class ConnectionManager {
  private unsubscribeBlacklist: (() => void) | undefined

  constructor(
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Security) private readonly security: SecurityContext,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Blacklist) readonly blacklist: Blacklist,
    /** Established connections, one per peer. */
    @inject(Tokens.Pool) readonly pool: ConnectionPool,
    @inject(Tokens.RunState) private readonly state: RunState,
    @inject(Tokens.PeerReports) private readonly reports: PeerReports,
    @inject(Tokens.Admission) private readonly admission: Admission,
    @inject(Tokens.TransportHost) private readonly transports: TransportHost,
    @inject(Tokens.Registrar) private readonly registrar: Registrar,
    @inject(Tokens.Establisher) private readonly establisher: Establisher,
    @inject(Tokens.Traversal) private readonly traversal: Traversal,
    @inject(Tokens.Dialer) private readonly dialer: Dialer,
    @inject(Tokens.Acceptor) private readonly acceptor: Acceptor,
    /** The peers the application keeps connected. */
    @inject(Tokens.PeerKeeper) readonly keeper: PeerKeeper,
    /** Messages addressed to peers (`node.send`, `node.request`). */
    @inject(Tokens.PeerMessenger) readonly messenger: PeerMessenger,
    @inject(Tokens.KeepAlive) private readonly keepAlive: KeepAlive,
    @inject(Tokens.ProtocolUpdates) private readonly protocolUpdates: ProtocolUpdates,
  ) {}

  /** Instantiate the transport plugins and start listening. */
  async start(): Promise<void> {
    if (this.state.running) return
    this.state.running = true
    this.unsubscribeBlacklist = this.blacklist.onChange((change) => {
      this.events.emit('blacklist:change', change)
      if (change.type === 'add') this.admission.enforceBlacklist()
    })
    try {
      await this.transports.start({
        security: this.security,
        gate: this.admission.gate,
        limits: this.transports.limits,
        logger: this.logger,
        onInboundConnection: (connection) => {
          void this.acceptor.acceptInbound(connection)
        },
        onInboundFailure: (remoteAddress, error) => this.reports.rejected('inbound', remoteAddress, error),
      })
    } catch (error) {
      await this.stop()
      throw error
    }
    this.keeper.start()
  }

  /** Close every connection and transport. */
  async stop(): Promise<void> {
    if (!this.state.running) return
    this.state.running = false
    this.keeper.stop()
    this.keepAlive.stop()
    this.protocolUpdates.stop()
    this.unsubscribeBlacklist?.()
    const closing = [...this.pool.all().map((c) => c.transportConnection), ...this.admission.pending].map((c) =>
      c.close({ code: CloseCode.SHUTDOWN, reason: 'node stopping' }),
    )
    await Promise.allSettled(closing)
    await this.transports.close()
    this.dialer.abortAll()
    this.registrar.end()
    this.reports.flush()
  }

  /** A service saw the node's public address move: check every path now (see `KeepAlive.addressMoved`). */
  addressMoved(): void {
    this.keepAlive.addressMoved()
  }

  /** Call `listener` whenever the node suspects its network changed (see `KeepAlive.suspect`); returns the unsubscribe. */
  onNetworkChange(listener: (peerId: string) => void): () => void {
    return this.keepAlive.onNetworkChange(listener)
  }

  /** The gate transports consult before spending TLS work on an inbound socket. */
  get gate(): ConnectionGate {
    return this.admission.gate
  }

  /** Peers the pruner must never close. */
  get protection(): ProtectedPeers {
    return this.admission.protection
  }

  /** Protect `peerId` from pruning for `tag`; returns a function that releases this hold. */
  protect(peerId: string, tag: string): () => void {
    return this.admission.protection.protect(peerId, tag)
  }

  /** The timing and stream limits every transport (and connection-making service) applies. */
  get limits(): TransportLimits {
    return this.transports.limits
  }

  /** Where peers' echoes say we are, per transport. */
  get externalAddresses(): ExternalAddressBook {
    return this.transports.externalAddresses
  }

  /** Addresses peers can dial us at: the transports' own, then what services publish (e.g. UPnP mappings). */
  addresses(): string[] {
    return this.transports.addresses()
  }

  /** Addresses the transports are bound to. */
  listenAddresses(): string[] {
    return this.transports.listenAddresses()
  }

  /** The transport with id `id`, if configured. */
  transport(id: string): Transport | undefined {
    return this.transports.transport(id)
  }

  /** Replace the addresses service `source` publishes. */
  advertise(source: string, addresses: readonly AdvertisedAddress[]): void {
    this.transports.advertise(source, addresses)
  }

  /** Serve a service protocol on protocol streams; returns a function that stops serving it. */
  handleProtocol(protocol: string, handler: ProtocolHandler): () => void {
    return this.registrar.handleProtocol(protocol, handler)
  }

  /** Register a way to reach peers that direct dials cannot (tried in priority order). */
  addConnector(id: string, connector: Connector): void {
    this.traversal.addConnector(id, connector)
  }

  /** Forget every connector (the node stops its services). */
  clearConnectors(): void {
    this.traversal.clearConnectors()
  }

  /** Set the message handler (replaces any previous one). */
  handle(handler: MessageHandler | undefined): void {
    this.registrar.handle(handler)
  }

  /** Incoming messages as an async iterator; a slow consumer slows the senders down (backpressure). */
  messages(capacity = 1024): AsyncIterable<IncomingMessage> {
    return this.registrar.messages(capacity)
  }

  /**
   * Connect to a peer, reusing a pooled connection. Concurrent calls for the
   * same peer share one attempt; transient failures are retried with backoff.
   */
  connect(peer: PeerContact, options: ConnectOptions = {}): Promise<Connection> {
    return this.dialer.connect(peer, options)
  }

  /**
   * Race connections to every candidate; the first to succeed is returned and
   * the other attempts are cancelled (and any that still succeed are closed).
   */
  connectAny(peers: readonly PeerContact[], options: ConnectOptions = {}): Promise<Connection> {
    return this.dialer.connectAny(peers, options)
  }

  /** For services: try the connectors below `belowPriority` (e.g. hole punching to upgrade a relayed connection). */
  traverseBelow(peerId: string, belowPriority: number, signal?: AbortSignal): Promise<Connection> {
    return this.traversal.traverseBelow(peerId, belowPriority, signal)
  }

  /**
   * For services: dial one address, authenticate, handshake and pool it (no
   * retries, no connectors). `method` tells the listener how the path was made.
   */
  dialAddress(address: string, options: { peerId: string; method?: ConnectionMethod; signal?: AbortSignal; localPort?: number }): Promise<Connection> {
    return this.dialer.dialAddress(address, options)
  }

  /** For services: handshake a secured outbound connection they made (e.g. over a relay) and pool it. */
  establishOutbound(connection: TransportConnection, options: { expectedPeerId: string; signal?: AbortSignal }): Promise<Connection> {
    return this.dialer.establishOutbound(connection, options)
  }

  /** An inbound, TLS-authenticated connection (from a transport or a service): handshake, then pool it. */
  acceptInbound(connection: TransportConnection): Promise<void> {
    return this.acceptor.acceptInbound(connection)
  }

  /** The addresses a peer told us it can be dialled at, in its handshake. */
  claimedAddresses(connection: Connection): readonly string[] {
    return this.establisher.claimedAddresses(connection)
  }

  /** Check whether `peerId` answers at one of `addresses` (a fresh connection, never pooled); resolves with that address. */
  checkReachable(peerId: string, addresses: readonly string[]): Promise<string> {
    return this.acceptor.checkReachable(peerId, addresses)
  }

  /** The address a dial-back check recently verified `peerId` at, if any (for the bootstrap cache). */
  verifiedAddress(peerId: string): string | undefined {
    return this.acceptor.verifiedAddress(peerId)
  }
}
