/**
 * `@crust/core`: node identity, TLS auth modes, the plugin contracts,
 * configuration and the connection manager of Crust.
 *
 * This entry holds what an application uses: `createNode` and the node, its
 * configuration, connections and events, typed errors, identity and CA files,
 * and the plugin contract types it composes a node from. What only a plugin
 * author needs (address and TLS helpers, option parsing, rate limiting, wire
 * constants) is in `@crust/core/plugin`; test suites and helpers are in
 * `@crust/core/testing`.
 *
 * @packageDocumentation
 */
export * from './errors.js'
export { QueueClosedError } from './events/async-queue.js'
export { InvalidEntryError, type Blacklist, type BlacklistChange, type BlacklistEntry, type BlacklistEntryKind } from './manager/blacklist.js'
export {
  createLogger,
  formatLogRecord,
  pinoSink,
  type Logger,
  type LogFields,
  type LogLevel,
  type LogRecord,
  type LogSink,
  type PinoLike,
} from './logger.js'
export { noopMetrics } from './metrics/noop.js'
export type * from './metrics/types.js'

// The plugin contracts, as types: an application composes a node from plugins.
export { CloseCode } from './transport/types.js'
export type * from './transport/types.js'
export type * from './discovery/types.js'
export type * from './service/types.js'
export type { AutoConnectLimits, AutoConnectStats, AutoConnectSkip } from './discovery/auto-connect.js'
export { dialOrder, isReachable, type DialOrderInput } from './discovery/dial-order.js'
export type { RateLimit } from './limits/token-bucket.js'

export { createNode, CrustNode, type CreateNodeOptions } from './node.js'
export { Tokens } from './di/tokens.js'
export { defaultCachePath, type BootstrapCacheOptions } from './bootstrap/bootstrap-cache.js'
export { readCacheFile, type CacheEntry } from './bootstrap/cache-file.js'
export type { BootstrapCandidate, CandidateSource } from './bootstrap/bootstrapper.js'
export { nodeConfigSchema, type NodeConfig, type NodeConfigInput } from './config/schema.js'
export type {
  AuthConfig,
  AutoConnectConfig,
  BlacklistConfig,
  BootstrapConfig,
  ConnectionConfig,
  ContactConfig,
  Duration,
  IdentityConfig,
  ReachabilityConfig,
  RetryConfig,
} from './config/options.js'
export { parseConfig, type ConfigIssue } from './config/parse.js'

export type { Connection, SendOptions, ConnectionStats, ConnectionFallback, ConnectionPath } from './connection/connection.js'
export type { ProtocolStream } from './connection/protocol-stream.js'
export type { IncomingMessage, MessageHandler } from './connection/incoming.js'
export type { CrustStream, OpenStreamOptions } from './connection/crust-stream.js'
export { StreamResetCode } from './connection/stream-codes.js'
export type { StreamHandler, HandleOptions, HandleStreamOptions, StreamProtocolLimits } from './manager/app-protocols.js'
export type { PeerRole } from './connection/handshake.js'

export type { PeerContact, ConnectOptions, ConnectionManager } from './manager/connection-manager.js'
export type { Acceptor } from './manager/acceptor.js'
export type { Admission } from './manager/admission.js'
export type { Dialer } from './manager/dialer.js'
export type { Establisher } from './manager/establisher.js'
export type { PeerReports } from './manager/peer-reports.js'
export type { Registrar } from './manager/registrar.js'
export type { TransportHost } from './manager/transport-host.js'
export type { Traversal, DialFailure } from './manager/traversal.js'
export type { RetryOptions, BackoffPolicy } from './manager/retry.js'
export type { FallbackReason, TransportGroup } from './manager/transport-order.js'

export type { NodeEvents } from './events/node-events.js'
export type { Listener, TypedEmitterOptions } from './events/emitter.js'

export { peerIdFromPublicKey, isPeerId, shortPeerId } from './identity/peer-id.js'
export {
  generateIdentityKey,
  loadOrCreateKeyFile,
  loadKeyFile,
  writeKeyFile,
  exportPrivateKeyPem,
  type LoadedKeyFile,
} from './identity/key-file.js'
export {
  createCertificateAuthority,
  issueCertificate,
  writeNodeCertificateFiles,
  type NodeCertificateFiles,
  type CertificateAuthority,
  type CreateCertificateAuthorityOptions,
  type IssueCertificateOptions,
} from './identity/ca.js'
export { loadCaFiles, type NodeIdentity, type CreateIdentityOptions, type CaIdentityFiles } from './identity/identity.js'
export type { AuthMode, SecurityOptions, VerifiableTlsSocket } from './identity/security.js'
export type { SelfSignedCertificateOptions } from './identity/certificate.js'
