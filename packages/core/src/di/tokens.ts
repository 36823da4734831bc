/**
 * Injection tokens. Symbols, not classes, so wiring never depends on emitted
 * decorator metadata (esbuild/oxc-based runners do not emit it).
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
  /** The `InboundLimiter`. */
  InboundLimiter: Symbol.for('crust.InboundLimiter'),
  /** SHA-256 hex of the network name. */
  NetworkHash: Symbol.for('crust.NetworkHash'),
} as const
