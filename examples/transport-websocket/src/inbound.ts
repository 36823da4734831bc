import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Server as HttpsServer, createServer as createHttpsServer } from 'node:https'
import { type Server, type Socket, createServer, isIPv6 } from 'node:net'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { AuthenticationError, CloseCode, DialError, type Logger, ProtocolError, TimeoutError, type TransportComponents } from '@crust/core'
import { errorMessage, formatAddress, normalizeIp, tlsOptionsFor, verifyTlsPeer } from '@crust/core/plugin'
import { type WebSocket, WebSocketServer } from 'ws'
import { SCHEME, reachableHosts } from './addresses.js'
import { type MuxSettings, WebSocketConnection, refuse } from './connection.js'
import { inboundFailure } from './errors.js'
import type { ResolvedOptions } from './options.js'

interface Bound {
  readonly server: Server
  readonly host: string
  readonly port: number
}

/**
 * One inbound TCP socket on its way to becoming a connection. It is
 * reported to the core exactly once: handed over, or failed (when the raw
 * socket closes, with the address read when it arrived: a dead socket no
 * longer knows its peer's address).
 */
interface Attempt {
  /** `ws://ip:port` of the remote end. */
  readonly label: string
  stage: 'tls' | 'upgrade' | 'done'
  /** Why it failed, when known before the socket closed. */
  error: Error | undefined
  timer: NodeJS.Timeout | undefined
}

function noop(): void {}

/** `ip:port` of a socket's remote end, the key of its {@link Attempt}. */
function keyOf(socket: Socket): string | undefined {
  return socket.remoteAddress === undefined ? undefined : `${normalizeIp(socket.remoteAddress)}|${socket.remotePort ?? 0}`
}

/**
 * The listening side. Each inbound TCP socket goes through three steps, each
 * of which can refuse it:
 *
 * 1. the core's gate, by address, before any TLS work (refused: TCP RST);
 * 2. TLS 1.3 with the node's certificate, client certificate requested
 *    (a never-listening `https.Server` runs it);
 * 3. the HTTP upgrade to WebSocket on the configured path, then the
 *    core's auth mode on the client certificate.
 *
 * Only then is the connection handed to the core. The handshake timeout
 * covers steps 2 and 3 together.
 */
export class InboundServer {
  private readonly bound: Bound[] = []
  private readonly sockets = new Set<Socket>()
  private readonly attempts = new Map<string, Attempt>()
  private readonly https: HttpsServer
  private readonly wss: WebSocketServer

  constructor(
    private readonly components: TransportComponents,
    private readonly options: ResolvedOptions,
    private readonly mux: MuxSettings,
    private readonly logger: Logger,
    /** Track a connection so `close()` of the transport closes it. */
    private readonly adopt: (connection: WebSocketConnection) => void,
  ) {
    this.https = createHttpsServer({
      ...tlsOptionsFor(components.security, 'server'),
      rejectUnauthorized: false, // verifyTlsPeer decides, so the peer learns why it was refused
    })
    this.https.on('tlsClientError', (error: Error, socket: TLSSocket) => {
      const attempt = this.attemptOf(socket)
      if (attempt !== undefined) attempt.error = error
      socket.destroy()
    })
    this.https.on('secureConnection', (socket: TLSSocket) => {
      const attempt = this.attemptOf(socket)
      if (attempt !== undefined) attempt.stage = 'upgrade'
    })
    this.https.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket as TLSSocket, head))
    this.https.on('request', (request: IncomingMessage, response: ServerResponse) => this.notWebSocket(request, response))
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: options.maxPayload })
    this.wss.on('wsClientError', (error: Error, socket: Duplex) => {
      const tls = socket as TLSSocket
      const attempt = this.attemptOf(tls)
      if (attempt !== undefined) attempt.error = new ProtocolError(`bad WebSocket upgrade request: ${error.message}`)
      tls.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      tls.destroySoon()
    })
  }

  /** Bind a listening socket; resolves once bound. */
  bind(host: string, port: number): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket))
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port, ipv6Only: isIPv6(host), backlog: this.options.backlog }, () => {
        server.off('error', reject)
        server.on('error', (error) => this.logger.warn(`listener ${host}: ${error.message}`))
        const address = server.address()
        this.bound.push({ server, host, port: typeof address === 'object' && address !== null ? address.port : port })
        resolve()
      })
    })
  }

  /** `ws://` addresses of every bound socket, wildcards expanded. */
  addresses(): string[] {
    return this.bound.flatMap(({ host, port }) => reachableHosts(host).map((h) => formatAddress(SCHEME, h, port)))
  }

  /** Stop listening (new sockets are refused at once). */
  stopListening(): Promise<void> {
    const closing = this.bound.splice(0).map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve())))
    return Promise.all(closing).then(noop)
  }

  /** Destroy every socket still open (attempts in progress; connections should be closed first). */
  destroySockets(): void {
    for (const socket of this.sockets) socket.destroy()
  }

  /** Step 1: the gate, by address alone. */
  private accept(raw: Socket): void {
    const remote = { transport: SCHEME, host: normalizeIp(raw.remoteAddress ?? ''), port: raw.remotePort ?? 0 }
    raw.on('error', noop) // reported by the TLS layer, or irrelevant once refused
    const decision = this.components.gate.admitInbound(remote)
    if (!decision.allow) {
      this.logger.debug(`gate refused ${formatAddress(SCHEME, remote.host, remote.port)}: ${decision.reason}`)
      raw.resetAndDestroy() // RST: the dialer fails at once, no TLS work spent
      return
    }
    const key = keyOf(raw) ?? ''
    const { handshakeTimeout } = this.components.limits
    const attempt: Attempt = { label: formatAddress(SCHEME, remote.host, remote.port), stage: 'tls', error: undefined, timer: undefined }
    attempt.timer = setTimeout(() => {
      attempt.error = new TimeoutError(`${attempt.label}: TLS handshake and WebSocket upgrade not done within ${handshakeTimeout} ms`)
      raw.destroy()
    }, handshakeTimeout)
    attempt.timer.unref()
    this.attempts.set(key, attempt)
    this.sockets.add(raw)
    raw.once('close', () => {
      this.sockets.delete(raw)
      if (this.attempts.get(key) === attempt) this.attempts.delete(key)
      decision.release?.()
      this.finish(attempt)
    })
    this.https.emit('connection', raw) // step 2: TLS
  }

  /** Step 3: the upgrade request. */
  private upgrade(request: IncomingMessage, socket: TLSSocket, head: Buffer): void {
    const attempt = this.attemptOf(socket)
    const path = new URL(request.url ?? '/', 'https://crust.invalid').pathname
    if (path !== this.options.path) {
      if (attempt !== undefined) attempt.error = new ProtocolError(`WebSocket upgrade for ${path}, not ${this.options.path}`)
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.secured(ws, socket, attempt))
  }

  /** An open WebSocket: authenticate the peer and hand the connection to the core. */
  private secured(ws: WebSocket, socket: TLSSocket, attempt: Attempt | undefined): void {
    if (attempt !== undefined) this.finish(attempt, 'handed over')
    try {
      const peer = verifyTlsPeer(socket, this.components.security)
      const connection = new WebSocketConnection(ws, socket, 'inbound', peer, this.mux)
      this.adopt(connection)
      this.components.onInboundConnection(connection)
    } catch (error) {
      const reason = errorMessage(error)
      refuse(ws, 'inbound', CloseCode.AUTH_FAILED, reason, this.mux)
      const label = attempt?.label ?? formatAddress(SCHEME, normalizeIp(socket.remoteAddress ?? ''), socket.remotePort ?? 0)
      this.report(label, error instanceof AuthenticationError ? error : new AuthenticationError(reason, { cause: error }))
    }
  }

  /** A plain HTTPS request: this endpoint only speaks WebSocket. */
  private notWebSocket(request: IncomingMessage, response: ServerResponse): void {
    const attempt = this.attemptOf(request.socket)
    if (attempt !== undefined) attempt.error = new ProtocolError('plain HTTPS request, not a WebSocket upgrade')
    response.writeHead(426, { Upgrade: 'websocket', Connection: 'close', 'Content-Length': '0' }).end()
  }

  private attemptOf(socket: Socket): Attempt | undefined {
    const key = keyOf(socket)
    return key === undefined ? undefined : this.attempts.get(key)
  }

  /**
   * The attempt ended: handed over (`outcome` given), or its socket closed
   * before that, which is reported as a failure with the best reason known.
   */
  private finish(attempt: Attempt, outcome?: 'handed over'): void {
    if (attempt.stage === 'done') return
    const stage = attempt.stage
    attempt.stage = 'done'
    clearTimeout(attempt.timer)
    if (outcome !== undefined) return
    const why =
      attempt.error ??
      new DialError(stage === 'tls' ? 'the connection closed during the TLS handshake' : 'the connection closed before the WebSocket upgrade')
    this.report(attempt.label, why)
  }

  private report(label: string, error: Error): void {
    const typed = inboundFailure(label, error)
    this.logger.debug(`inbound ${label} failed: ${typed.message}`)
    this.components.onInboundFailure(label, typed)
  }
}
