/**
 * `@crust/core/plugin`: what a plugin author needs beyond the contract types
 * (which `@crust/core` exports too, and this entry repeats so one import
 * serves): address and TLS helpers for transports, option parsing, a token
 * bucket, error helpers, stream reset codes and the message wire constants
 * (for hostile-peer tests). Applications need none of it.
 *
 * @packageDocumentation
 */
export type * from './transport/types.js'
export type * from './discovery/types.js'
export type * from './service/types.js'
export type * from './metrics/types.js'
export { noopMetrics } from './metrics/noop.js'
export { CONNECTION_METHOD_PATTERN, isConnectionMethod } from './transport/types.js'

export { asError, errorMessage } from './error-text.js'
export { errorFromClose } from './connection/close-errors.js'
export { StreamResetCode } from './connection/stream-codes.js'
export { MessageKind, MESSAGE_HEADER_SIZE, MESSAGE_VERSION } from './connection/message-header.js'
export { hashNetworkName } from './connection/handshake.js'

export { parseAddress, formatAddress, normalizeIp, isLoopback, isWildcard, isLanScoped, isGlobalAddress, expandWildcard } from './transport/address.js'
export { parsePluginOptions } from './config/plugin-options.js'
export { TokenBucket, type RateLimit } from './limits/token-bucket.js'

export { createSigningIdentity } from './identity/signing.js'
export { createIdentity, loadCaIdentity } from './identity/identity.js'
export { createSelfSignedCertificate, type SelfSignedCertificateOptions } from './identity/certificate.js'
export { createSecurityContext, tlsOptionsFor, verifyTlsPeer, type AuthMode, type SecurityOptions, type VerifiableTlsSocket } from './identity/security.js'
export { StreamDuplex, type DuplexableStream } from './connection/stream-duplex.js'
