import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import {
  AbortError,
  AuthenticationError,
  CloseCode,
  DialError,
  type DialOptions,
  type SecurityContext,
  type SocketAddress,
  TimeoutError,
  type TransportLimits,
} from '@crust/core'
import { errorMessage, tlsOptionsFor, verifyTlsPeer } from '@crust/core/plugin'
import { WebSocket } from 'ws'
import { urlFor } from './addresses.js'
import { type MuxSettings, WebSocketConnection, refuse } from './connection.js'
import { dialFailure } from './errors.js'
import type { ResolvedOptions } from './options.js'

/** What a dial needs from its transport. */
export interface DialContext {
  readonly security: SecurityContext
  readonly limits: TransportLimits
  readonly options: ResolvedOptions
  readonly mux: MuxSettings
  /** Dials in progress, each with its cancel function, so `close()` of the transport can stop them. */
  readonly pending: Set<(error: Error) => void>
  /** Track a connection so `close()` of the transport closes it. */
  readonly adopt: (connection: WebSocketConnection) => void
}

/**
 * Open `wss://host:port/path` with the node's certificate (TLS 1.3, mutual),
 * then authenticate the listener with the core's auth mode against
 * `expectedPeerId`. The whole of it (TCP, TLS, HTTP upgrade) is bounded by
 * the handshake timeout and cancelled by `signal`.
 */
export function dialWebSocket(
  address: string,
  target: SocketAddress,
  context: DialContext,
  { signal, expectedPeerId }: DialOptions,
): Promise<WebSocketConnection> {
  if (signal?.aborted === true) return Promise.reject(new AbortError())
  const { security, limits, options } = context
  let ws: WebSocket
  try {
    ws = new WebSocket(urlFor(target, options.path), {
      ...tlsOptionsFor(security, 'client'),
      rejectUnauthorized: false, // verifyTlsPeer decides, so the listener learns why it was refused
      perMessageDeflate: false,
      maxPayload: options.maxPayload,
      handshakeTimeout: limits.handshakeTimeout,
      followRedirects: false,
    })
  } catch (error) {
    return Promise.reject(dialFailure(address, error))
  }

  return new Promise<WebSocketConnection>((resolve, reject) => {
    let tls: TLSSocket | undefined
    let settled = false
    const timer = setTimeout(
      () => cancel(new TimeoutError(`handshake with ${address} not finished within ${limits.handshakeTimeout} ms`)),
      limits.handshakeTimeout,
    )
    const onAbort = (): void => cancel(new AbortError())
    function settle(): void {
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      context.pending.delete(cancel)
    }
    function cancel(error: Error): void {
      if (settled) return
      settle()
      ws.terminate()
      reject(dialFailure(address, error))
    }
    context.pending.add(cancel)
    signal?.addEventListener('abort', onAbort, { once: true })

    // Stays attached: errors after the dial settled are ignored here (the
    // connection's muxer hears of them through its stream).
    ws.on('error', cancel)
    ws.once('close', () => cancel(new DialError(`${address}: closed during the handshake`)))
    ws.once('unexpected-response', (request, response: IncomingMessage) => {
      cancel(new DialError(`${address}: HTTP ${response.statusCode ?? '?'} instead of a WebSocket upgrade`))
      request.destroy()
    })
    ws.once('upgrade', (response: IncomingMessage) => {
      tls = response.socket as TLSSocket
    })
    ws.once('open', () => {
      if (settled) return
      settle()
      if (tls === undefined) {
        ws.terminate()
        reject(new DialError(`${address}: no TLS socket after the upgrade`))
        return
      }
      try {
        const peer = verifyTlsPeer(tls, security, expectedPeerId)
        const connection = new WebSocketConnection(ws, tls, 'outbound', peer, context.mux)
        context.adopt(connection)
        resolve(connection)
      } catch (error) {
        const reason = errorMessage(error)
        refuse(ws, 'outbound', CloseCode.AUTH_FAILED, reason, context.mux)
        reject(error instanceof AuthenticationError ? error : new AuthenticationError(reason, { cause: error }))
      }
    })
  })
}
