/**
 * `@crust/core`: node identity, TLS auth modes, the transport plugin contract,
 * configuration and the connection manager of Crust.
 *
 * @packageDocumentation
 */
export * from './errors.js'
export { asError, errorMessage } from './error-text.js'
export { createLogger, type Logger, type LogLevel, type LogRecord, type LogSink } from './logger.js'
export * from './transport/types.js'
export * from './discovery/types.js'
export { autoConnectSchema, AutoConnectBudget, type AutoConnectLimits, type AutoConnectStats, type AutoConnectSkip } from './discovery/auto-connect.js'
export * from './service/types.js'
export { createSigningIdentity } from './identity/signing.js'
export { parseAddress, formatAddress, normalizeIp, isLoopback, isWildcard, expandWildcard } from './transport/address.js'
export { TokenBucket, type RateLimit } from './limits/token-bucket.js'

export { createNode, CrustNode, type CreateNodeOptions } from './node.js'
export { Tokens } from './di/tokens.js'
export { BootstrapCache, defaultCachePath, type BootstrapCacheOptions } from './bootstrap/bootstrap-cache.js'
export { readCacheFile, writeCacheFile, type CacheEntry } from './bootstrap/cache-file.js'
export type { BootstrapCandidate, CandidateSource } from './bootstrap/bootstrapper.js'
export { nodeConfigSchema, type NodeConfig, type NodeConfigInput } from './config/schema.js'
export { parseConfig, type ConfigIssue } from './config/parse.js'
export { parsePluginOptions } from './config/plugin-options.js'

export { Connection, PING_PROTOCOL, type SendOptions, type ConnectionStats, type ConnectionFallback, type ConnectionPath } from './connection/connection.js'
export { ProtocolStream } from './connection/protocol-stream.js'
export type { IncomingMessage, MessageHandler } from './connection/incoming.js'
export { MessageKind, MESSAGE_HEADER_SIZE, MESSAGE_VERSION } from './connection/message-header.js'
export { StreamResetCode } from './connection/stream-codes.js'
export { errorFromClose } from './connection/close-errors.js'
export { hashNetworkName, type PeerRole } from './connection/handshake.js'

export type { PeerContact, ConnectOptions, ConnectionManager } from './manager/connection-manager.js'
export type { Acceptor } from './manager/acceptor.js'
export type { Admission } from './manager/admission.js'
export type { Dialer } from './manager/dialer.js'
export type { Establisher } from './manager/establisher.js'
export type { PeerReports } from './manager/peer-reports.js'
export type { Registrar } from './manager/registrar.js'
export type { TransportHost } from './manager/transport-host.js'
export type { Traversal, DialFailure } from './manager/traversal.js'
export {
  Blacklist,
  InvalidEntryError,
  classifyBlacklistEntry,
  type BlacklistChange,
  type BlacklistEntry,
  type BlacklistEntryKind,
} from './manager/blacklist.js'
export { retryWithBackoff, backoffDelay, type RetryOptions, type BackoffPolicy } from './manager/retry.js'
export { chooseSurvivor } from './manager/pool.js'
export { groupByTransport, fallbackReason, type FallbackReason, type TransportGroup } from './manager/transport-order.js'

export type { NodeEvents } from './events/node-events.js'
export { TypedEmitter, type Listener, type TypedEmitterOptions } from './events/emitter.js'
export { AsyncQueue, QueueClosedError } from './events/async-queue.js'

export { peerIdFromPublicKey, isPeerId, shortPeerId, PEER_ID_PREFIX } from './identity/peer-id.js'
export {
  generateIdentityKey,
  loadOrCreateKeyFile,
  loadKeyFile,
  writeKeyFile,
  exportPrivateKeyPem,
  type LoadedKeyFile,
} from './identity/key-file.js'
export { createSelfSignedCertificate, type SelfSignedCertificateOptions } from './identity/certificate.js'
export {
  createCertificateAuthority,
  issueCertificate,
  writeNodeCertificateFiles,
  type NodeCertificateFiles,
  type CertificateAuthority,
  type CreateCertificateAuthorityOptions,
  type IssueCertificateOptions,
} from './identity/ca.js'
export {
  createIdentity,
  loadCaIdentity,
  loadCaFiles,
  type NodeIdentity,
  type CreateIdentityOptions,
  type CaIdentityFiles,
} from './identity/identity.js'
export {
  createSecurityContext,
  tlsOptionsFor,
  verifyTlsPeer,
  type AuthMode,
  type SecurityOptions,
  type VerifiableTlsSocket,
} from './identity/security.js'
