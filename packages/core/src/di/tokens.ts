/**
 * Injection tokens of a node's components. Symbols, not classes, so wiring
 * never depends on emitted decorator metadata (esbuild/oxc-based runners do
 * not emit it). Register your own provider for a token in the container you
 * pass to `createNode(config, { container })` to replace that component.
 */
export const Tokens = {
  /** The validated `NodeConfig`. */
  Config: Symbol.for('crust.Config'),
  /** The node's `Logger`. */
  Logger: Symbol.for('crust.Logger'),
  /** The node's `SecurityContext` (certificate, key, auth mode). */
  Security: Symbol.for('crust.Security'),
  /** The node's `TypedEmitter<NodeEvents>`. */
  Events: Symbol.for('crust.Events'),
  /** The `Blacklist`. */
  Blacklist: Symbol.for('crust.Blacklist'),
  /** SHA-256 hex of the network name. */
  NetworkHash: Symbol.for('crust.NetworkHash'),
  /** The `ConnectionPool`: one connection per peer. */
  Pool: Symbol.for('crust.Pool'),
  /** The `RunState` the manager's parts share. */
  RunState: Symbol.for('crust.RunState'),
  /** `PeerReports`: refusals, peer errors, misbehaviour. */
  PeerReports: Symbol.for('crust.PeerReports'),
  /** `Admission`: the inbound gate, limits, pruning, blacklist enforcement. */
  Admission: Symbol.for('crust.Admission'),
  /** `TransportHost`: transports, listening, the node's addresses. */
  TransportHost: Symbol.for('crust.TransportHost'),
  /** `Registrar`: the message handler, `messages()` readers and service protocols. */
  Registrar: Symbol.for('crust.Registrar'),
  /** `Establisher`: handshaken connections into the pool. */
  Establisher: Symbol.for('crust.Establisher'),
  /** `Traversal`: the services' connectors (hole punching, relaying). */
  Traversal: Symbol.for('crust.Traversal'),
  /** `Dialer`: outbound connections. */
  Dialer: Symbol.for('crust.Dialer'),
  /** `Acceptor`: inbound connections and reachability checks. */
  Acceptor: Symbol.for('crust.Acceptor'),
  /** `PeerPresence`: peer-level events (`peer:connected`, `peer:disconnected`, `peer:reconnected`). */
  PeerPresence: Symbol.for('crust.PeerPresence'),
  /** `ProtocolUpdates`: tells connected peers when the application protocols change (identify-push). */
  ProtocolUpdates: Symbol.for('crust.ProtocolUpdates'),
  /** `KeepAlive`: the core's own keep-alives (peers with shorter idle timeouts, NAT mappings that expire sooner). */
  KeepAlive: Symbol.for('crust.KeepAlive'),
  /** `PeerKeeper`: reconnects the peers the application keeps. */
  PeerKeeper: Symbol.for('crust.PeerKeeper'),
  /** `PeerMessenger`: messages addressed to a peer, resent across reconnections, delivered once. */
  PeerMessenger: Symbol.for('crust.PeerMessenger'),
  /** The node's `NodeIdentity` (peer id, key, certificate). */
  Identity: Symbol.for('crust.Identity'),
  /** The `DiscoveryService` that runs the discovery plugins. */
  Discovery: Symbol.for('crust.Discovery'),
  /** The `BootstrapCache` of peers that worked before. */
  BootstrapCache: Symbol.for('crust.BootstrapCache'),
  /** The `Bootstrapper` that joins the network through contacts and the cache. */
  Bootstrapper: Symbol.for('crust.Bootstrapper'),
  /** The `ServiceHost` that runs the service plugins. */
  Services: Symbol.for('crust.Services'),
  /** The node's `NodeMetrics` (on the configured `MetricsRecorder`, or the no-op one). */
  Metrics: Symbol.for('crust.Metrics'),
  /** The `ConnectionManager` that starts and stops the parts above together. */
  ConnectionManager: Symbol.for('crust.ConnectionManager'),
} as const
