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
  /** `PeerKeeper`: reconnects the peers the application keeps. */
  PeerKeeper: Symbol.for('crust.PeerKeeper'),
  /** `PeerMessenger`: messages addressed to a peer, resent across reconnections, delivered once. */
  PeerMessenger: Symbol.for('crust.PeerMessenger'),
  /** The `ConnectionManager` that starts and stops the parts above together. */
  ConnectionManager: Symbol.for('crust.ConnectionManager'),
} as const
