/**
 * The auth modes: how a node checks the certificate of the peer at the other
 * end of a TLS connection, and the node:tls options every TLS transport uses.
 *
 * @packageDocumentation
 */
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls'
import { AuthenticationError, IdentityError } from '../errors.js'
import type { RemotePeer, SecurityContext } from '../transport/types.js'
import { errorMessage } from '../error-text.js'
import type { NodeIdentity } from './identity.js'
import { type CertificateFacts, CertificateFactsCache } from './certificate-facts.js'

/** Certificates whose facts a security context remembers (~150 bytes each). */
const CERTIFICATE_FACTS_CACHED = 1024

/** An auth mode: `none`, `peer-id` (default) or `ca`. */
export type AuthMode = SecurityContext['mode']

/** Options of {@link createSecurityContext}. */
export interface SecurityOptions {
  /** The auth mode. */
  readonly mode: AuthMode
  /** PEM CA certificates trusted in `ca` mode (see `loadCaFiles`); ignored in other modes. */
  readonly ca?: readonly string[]
}

/**
 * Build the {@link SecurityContext} transports use, for `identity` and an
 * auth mode. Throws `IdentityError` in `ca` mode when no CA is given (node:tls
 * would otherwise fall back to the public web roots).
 */
export function createSecurityContext(identity: NodeIdentity, options: SecurityOptions): SecurityContext {
  const { mode } = options
  const ca = mode === 'ca' ? [...(options.ca ?? [])] : []
  if (mode === 'ca' && ca.length === 0) {
    throw new IdentityError('Auth mode "ca" needs at least one trusted CA certificate')
  }
  // Peers reconnect: what a certificate says of itself is read once (see certificate-facts.ts).
  const facts = new CertificateFactsCache(CERTIFICATE_FACTS_CACHED, mode === 'peer-id')
  return Object.freeze({
    mode,
    peerId: identity.peerId,
    certificatePem: identity.certificatePem,
    privateKeyPem: identity.privateKeyPem,
    ca: Object.freeze(ca),
    verifyRemote: (certificateDer: Uint8Array | undefined, expectedPeerId?: string): RemotePeer =>
      verifyRemote(mode, facts, certificateDer, expectedPeerId),
  })
}

function verifyRemote(
  mode: AuthMode,
  facts: CertificateFactsCache,
  der: Uint8Array | undefined,
  expectedPeerId: string | undefined,
): RemotePeer {
  if (!der || der.length === 0) throw new AuthenticationError('The remote peer presented no certificate')
  let certificate: CertificateFacts
  try {
    certificate = facts.get(der)
  } catch (error) {
    throw new AuthenticationError(`The remote certificate cannot be parsed: ${errorMessage(error)}`, { cause: error })
  }
  const { peerId } = certificate
  if (mode === 'peer-id') checkSelfSigned(certificate)
  if (mode !== 'none' && expectedPeerId !== undefined && peerId !== expectedPeerId) {
    throw new AuthenticationError(`Expected peer ${expectedPeerId} but the certificate belongs to ${peerId}`)
  }
  return { peerId, certificate: der }
}

/** The self-signature (a fact of the certificate) and the validity window, against the clock of this call. */
function checkSelfSigned(certificate: CertificateFacts): void {
  const { peerId } = certificate
  if (certificate.selfSigned !== true) throw new AuthenticationError(`The certificate of peer ${peerId} is not self-signed by its key`)
  const now = Date.now()
  if (!(now >= certificate.notBefore && now <= certificate.notAfter)) {
    throw new AuthenticationError(
      `The certificate of peer ${peerId} is not valid now (valid from ${certificate.validFrom} to ${certificate.validTo})`,
    )
  }
}

/** What {@link verifyTlsPeer} reads of a TLS socket (a `TLSSocket` has it all). */
export type VerifiableTlsSocket = Pick<TLSSocket, 'authorized' | 'authorizationError' | 'getPeerX509Certificate'>

/**
 * Authenticate the remote end of a finished TLS handshake under the node's
 * auth mode: the rule every TLS transport (TCP, the relay, a WebSocket one)
 * applies. Such transports never reject at the TLS layer
 * (`rejectUnauthorized: false`), so the refusing side can tell the other why
 * over the secured channel (a GO_AWAY with `AUTH_FAILED`) rather than drop
 * the socket: in `ca` mode the chain check node:tls did is read from
 * `socket.authorized` here; then `security.verifyRemote` checks the
 * certificate itself and `expectedPeerId`.
 *
 * @throws AuthenticationError when the peer fails the auth mode
 */
export function verifyTlsPeer(socket: VerifiableTlsSocket, security: SecurityContext, expectedPeerId?: string): RemotePeer {
  if (security.mode === 'ca' && !socket.authorized) {
    const why = errorMessage(socket.authorizationError)
    throw new AuthenticationError(`the remote certificate does not chain to a trusted CA: ${why}`)
  }
  return security.verifyRemote(socket.getPeerX509Certificate()?.raw, expectedPeerId)
}

/**
 * The node:tls options every TLS transport must use for `side`: TLS 1.3 only,
 * our certificate and key, client certificates requested by servers, chain
 * validation (against `security.ca`) only in `ca` mode. Clients skip host
 * name checks: peers are dialled by address and identified by peer id, so
 * call {@link verifyTlsPeer} (or `security.verifyRemote`) once the handshake completes.
 */
export function tlsOptionsFor(security: SecurityContext, side: 'server'): TlsOptions
export function tlsOptionsFor(security: SecurityContext, side: 'client'): ConnectionOptions
export function tlsOptionsFor(security: SecurityContext, side: 'client' | 'server'): TlsOptions | ConnectionOptions
export function tlsOptionsFor(security: SecurityContext, side: 'client' | 'server'): TlsOptions | ConnectionOptions {
  const common = {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    cert: security.certificatePem,
    key: security.privateKeyPem,
    rejectUnauthorized: security.mode === 'ca',
    ...(security.mode === 'ca' ? { ca: [...security.ca] } : {}),
  } as const
  return side === 'server'
    ? { ...common, requestCert: true }
    : { ...common, checkServerIdentity: () => undefined }
}
