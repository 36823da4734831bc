import type { Duplex } from 'node:stream'
import { type SecureContext, TLSSocket, connect as tlsConnect, createSecureContext } from 'node:tls'
import {
  AbortError,
  AuthenticationError,
  CrustError,
  type RemotePeer,
  type SecurityContext,
  TimeoutError,
  tlsOptionsFor,
} from '@crust/core'
import { RelayError } from './errors.js'

/** The outcome of an end-to-end TLS handshake over a relayed stream. */
export interface Secured {
  readonly socket: TLSSocket
  readonly remotePeer: RemotePeer
}

/** TLS contexts built once per node: building one parses the certificate and key (about a millisecond). */
export class TlsContexts {
  private client: SecureContext | undefined
  private server: SecureContext | undefined

  constructor(readonly security: SecurityContext) {}

  clientContext(): SecureContext {
    this.client ??= createSecureContext(tlsOptionsFor(this.security, 'client'))
    return this.client
  }

  serverContext(): SecureContext {
    this.server ??= createSecureContext(tlsOptionsFor(this.security, 'server'))
    return this.server
  }
}

/**
 * Run TLS 1.3 over `duplex` as `side`, then authenticate the remote as
 * `expectedPeerId` under the node's auth mode, as the TCP transport does
 * over a socket. Neither side rejects at the TLS layer: the verdict comes
 * from `security.verifyRemote` (and `authorized` in `ca` mode), so a refused
 * peer gets a typed `AuthenticationError`. Destroys the socket on failure.
 */
export function secure(
  duplex: Duplex,
  side: 'client' | 'server',
  contexts: TlsContexts,
  expectedPeerId: string,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<Secured> {
  const { security } = contexts
  const socket =
    side === 'client'
      ? tlsConnect({
          ...tlsOptionsFor(security, 'client'),
          secureContext: contexts.clientContext(),
          socket: duplex,
          rejectUnauthorized: false,
        })
      : new TLSSocket(duplex, {
          isServer: true,
          secureContext: contexts.serverContext(),
          requestCert: true,
          rejectUnauthorized: false,
        })
  return new Promise<Secured>((resolve, reject) => {
    const { signal, timeoutMs } = options
    const timer = setTimeout(() => fail(new TimeoutError(`relayed TLS handshake not finished within ${timeoutMs} ms`)), timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.off('error', onError)
      socket.off('close', onClose)
      socket.off(side === 'client' ? 'secureConnect' : 'secure', onSecure)
    }
    function fail(error: Error): void {
      cleanup()
      socket.destroy()
      duplex.destroy()
      reject(error)
    }
    const onAbort = (): void => fail(new AbortError())
    const onError = (error: Error): void => fail(handshakeFailure(error))
    const onClose = (): void => fail(new RelayError('peer-gone', 'the relayed stream closed during the TLS handshake'))
    const onSecure = (): void => {
      cleanup()
      // Until the muxer takes the socket over (a microtask later) an error must not go unhandled;
      // the muxer sees the socket destroyed and closes at once.
      socket.on('error', () => {})
      try {
        resolve({ socket, remotePeer: verify(socket, security, expectedPeerId) })
      } catch (error) {
        socket.destroy()
        duplex.destroy()
        reject(error)
      }
    }
    if (signal?.aborted) {
      fail(new AbortError())
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('error', onError)
    socket.once('close', onClose)
    socket.once(side === 'client' ? 'secureConnect' : 'secure', onSecure)
  })
}

/** OpenSSL error codes that mean one side refused the other's certificate. */
const certificateFailure = /CERT|ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE|UNSUPPORTED_CERTIFICATE|HANDSHAKE_FAILURE|DECRYPT_ERROR|ACCESS_DENIED)|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|DEPTH_ZERO/

/** A typed error for a TLS failure: certificate trouble is authentication, the rest a broken circuit. */
function handshakeFailure(error: Error): Error {
  if (error instanceof CrustError) return error
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && certificateFailure.test(code)) {
    return new AuthenticationError(`relayed TLS authentication failed: ${error.message}`, { cause: error })
  }
  return new RelayError('peer-gone', `relayed TLS handshake failed: ${error.message}`, { cause: error })
}

function verify(socket: TLSSocket, security: SecurityContext, expectedPeerId: string): RemotePeer {
  if (security.mode === 'ca' && !socket.authorized) {
    const why = socket.authorizationError instanceof Error ? socket.authorizationError.message : String(socket.authorizationError)
    throw new AuthenticationError(`the remote certificate does not chain to a trusted CA: ${why}`)
  }
  return security.verifyRemote(socket.getPeerX509Certificate()?.raw, expectedPeerId)
}
