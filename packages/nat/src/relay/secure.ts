import type { Duplex } from 'node:stream'
import {
  type SecureContext,
  type TLSSocket,
  createSecureContext,
  createServer as createTlsServer,
  connect as tlsConnect,
} from 'node:tls'
import { AbortError, AuthenticationError, type RemotePeer, type SecurityContext, TimeoutError, isCrustError } from '@crust/core'
import { tlsOptionsFor, verifyTlsPeer } from '@crust/core/plugin'
import { RelayError } from './errors.js'

/** The outcome of an end-to-end TLS handshake over a relayed stream. */
export interface Secured {
  readonly socket: TLSSocket
  readonly remotePeer: RemotePeer
}

/** Options of {@link secureClient} and {@link secureServer}. */
export interface SecureOptions {
  readonly timeoutMs: number
  readonly signal?: AbortSignal
}

/** The client TLS context, built once per node (building one parses the certificate and key). */
export class ClientContext {
  private context: SecureContext | undefined

  constructor(readonly security: SecurityContext) {}

  get(): SecureContext {
    this.context ??= createSecureContext(tlsOptionsFor(this.security, 'client'))
    return this.context
  }
}

/**
 * Run a TLS 1.3 client over `duplex`, then authenticate the server as
 * `expectedPeerId` under the node's auth mode, as the TCP transport does.
 * Neither side rejects at the TLS layer: the verdict comes from
 * `security.verifyRemote` (and `authorized` in `ca` mode), so a wrong peer
 * gets a typed `AuthenticationError`. Destroys everything on failure.
 */
export function secureClient(duplex: Duplex, context: ClientContext, expectedPeerId: string, options: SecureOptions): Promise<Secured> {
  const { security } = context
  const socket = tlsConnect({ ...tlsOptionsFor(security, 'client'), secureContext: context.get(), socket: duplex, rejectUnauthorized: false })
  return handshake(duplex, security, expectedPeerId, options, (done, fail) => {
    socket.once('secureConnect', () => done(socket))
    socket.once('error', (error) => fail(error))
    socket.once('close', () => fail(undefined))
    return () => socket.destroy()
  })
}

/**
 * Run a TLS 1.3 server over `duplex` and authenticate the client as
 * `expectedPeerId`. A (never listening) `tls.Server` runs it, one per
 * circuit: only a server-run socket learns whether a client certificate
 * chains to the CA (`authorized`), which `ca` mode needs. Relayed accepts
 * are rare, so the context it builds (about a millisecond) does not matter.
 */
export function secureServer(duplex: Duplex, security: SecurityContext, expectedPeerId: string, options: SecureOptions): Promise<Secured> {
  const server = createTlsServer({ ...tlsOptionsFor(security, 'server'), requestCert: true, rejectUnauthorized: false })
  return handshake(duplex, security, expectedPeerId, options, (done, fail) => {
    server.once('secureConnection', (socket: TLSSocket) => done(socket))
    server.once('tlsClientError', (error: Error, socket: TLSSocket) => {
      socket.destroy()
      fail(error)
    })
    server.emit('connection', duplex)
    return () => duplex.destroy()
  })
}

/**
 * Bound a handshake by time and signal, and verify the peer once it is done.
 * `run` starts it, reports the secured socket or a failure (`undefined`:
 * closed early), and returns how to abort it.
 */
function handshake(
  duplex: Duplex,
  security: SecurityContext,
  expectedPeerId: string,
  options: SecureOptions,
  run: (done: (socket: TLSSocket) => void, fail: (error: Error | undefined) => void) => () => void,
): Promise<Secured> {
  return new Promise<Secured>((resolve, reject) => {
    const { signal, timeoutMs } = options
    let settled = false
    let abort: () => void = () => {}
    const finish = (outcome: () => void): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      outcome()
    }
    const failWith = (error: Error): void =>
      finish(() => {
        abort()
        duplex.destroy()
        reject(error)
      })
    const timer = setTimeout(() => failWith(new TimeoutError(`relayed TLS handshake not finished within ${timeoutMs} ms`)), timeoutMs)
    const onAbort = (): void => failWith(new AbortError())
    if (signal?.aborted) {
      clearTimeout(timer)
      duplex.destroy()
      reject(new AbortError())
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    abort = run(
      (socket) =>
        finish(() => {
          // Until the muxer takes the socket over an error must not go unhandled;
          // the muxer then sees the socket destroyed and closes at once.
          socket.on('error', () => {})
          try {
            resolve({ socket, remotePeer: verifyTlsPeer(socket, security, expectedPeerId) })
          } catch (error) {
            socket.destroy()
            duplex.destroy()
            reject(error)
          }
        }),
      (error) => failWith(error === undefined ? new RelayError('peer-gone', 'the relayed stream closed during the TLS handshake') : handshakeFailure(error)),
    )
  })
}

/** OpenSSL error codes that mean one side refused the other's certificate. */
const certificateFailure = /CERT|ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE|UNSUPPORTED_CERTIFICATE|HANDSHAKE_FAILURE|DECRYPT_ERROR|ACCESS_DENIED)|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|DEPTH_ZERO/

/** A typed error for a TLS failure: certificate trouble is authentication, the rest a broken circuit. */
function handshakeFailure(error: Error): Error {
  if (isCrustError(error)) return error
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && certificateFailure.test(code)) {
    return new AuthenticationError(`relayed TLS authentication failed: ${error.message}`, { cause: error })
  }
  return new RelayError('peer-gone', `relayed TLS handshake failed: ${error.message}`, { cause: error })
}
