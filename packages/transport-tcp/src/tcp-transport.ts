import { type Server, type Socket, createServer, isIPv6 } from 'node:net'
import {
  type ConnectionOptions,
  type TLSSocket,
  type Server as TlsServer,
  createSecureContext,
  createServer as createTlsServer,
  connect as tlsConnect,
} from 'node:tls'
import {
  AbortError,
  AuthenticationError,
  CloseCode,
  DialError,
  type DialOptions,
  type Logger,
  type RemotePeer,
  TimeoutError,
  type Transport,
  type TransportComponents,
  type TransportConnection,
  UnsupportedAddressError,
  isCrustError,
} from '@crust/core'
import { errorMessage, expandWildcard, formatAddress, normalizeIp, parseAddress, tlsOptionsFor, verifyTlsPeer } from '@crust/core/plugin'
import { Muxer } from '@crust/mux'
import type { TcpOptions } from './options.js'
import { TcpConnection } from './tcp-connection.js'
import { dialFailure, inboundFailure } from './tls-errors.js'

interface Listener {
  readonly server: Server
  readonly host: string
  readonly port: number
}

/**
 * TCP + TLS 1.3 transport. Inbound sockets pass the core's gate before any TLS
 * work; every connection carries a {@link Muxer} for streams.
 */
export class TcpTransport implements Transport {
  readonly id = 'tcp'
  readonly defaultListenAddresses: readonly string[]
  private readonly listeners: Listener[] = []
  private readonly sockets = new Set<Socket>()
  private readonly connections = new Set<TransportConnection>()
  private readonly logger: Logger
  private secureServer: TlsServer | undefined
  private clientTls: ConnectionOptions | undefined
  /** The remote address of each inbound raw socket, for reports after it has closed. */
  private readonly labels = new WeakMap<Socket, string>()
  /** Dials in progress, failed at once by close(). */
  private readonly dialing = new Set<(error: Error) => void>()

  constructor(
    private readonly components: TransportComponents,
    private readonly options: TcpOptions = {},
  ) {
    const port = options.port ?? 0
    this.defaultListenAddresses =
      options.host !== undefined
        ? [formatAddress('tcp', options.host, port)]
        : [formatAddress('tcp', '0.0.0.0', port), formatAddress('tcp', '::', port)]
    this.logger = components.logger.child('tcp')
  }

  canDial(address: string): boolean {
    return parseAddress(address)?.transport === 'tcp'
  }

  async listen(address: string): Promise<void> {
    const parsed = parseAddress(address)
    if (parsed?.transport !== 'tcp') throw new UnsupportedAddressError(address)
    // Port 0 on both wildcards: reuse the first bound port so IPv4 and IPv6 match.
    const shared = parsed.port === 0 ? this.listeners[0]?.port : undefined
    try {
      this.listeners.push(await this.bind(parsed.host, shared ?? parsed.port))
    } catch (error) {
      if (shared === undefined) throw error
      this.listeners.push(await this.bind(parsed.host, 0))
    }
  }

  private bind(host: string, port: number): Promise<Listener> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket))
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port, ipv6Only: isIPv6(host), backlog: this.options.backlog ?? 511 }, () => {
        server.off('error', reject)
        server.on('error', (error) => this.logger.warn(`listener ${host}: ${error.message}`))
        const bound = server.address()
        resolve({ server, host, port: typeof bound === 'object' && bound ? bound.port : port })
      })
    })
  }

  addresses(): string[] {
    return this.listeners.flatMap((l) => expandWildcard(l.host).map((host) => formatAddress('tcp', host, l.port)))
  }

  /**
   * An inbound socket: gate by address first, then hand it to the (never
   * listening) TLS server, which runs the handshake and checks the chain.
   */
  private accept(raw: Socket): void {
    const remote = { transport: 'tcp', host: normalizeIp(raw.remoteAddress ?? ''), port: raw.remotePort ?? 0 }
    const decision = this.components.gate.admitInbound(remote)
    raw.on('error', () => {}) // reported by the TLS layer, or irrelevant once refused
    if (!decision.allow) {
      raw.resetAndDestroy() // RST: the dialer fails at once, no TLS work spent
      return
    }
    if (decision.release) raw.once('close', decision.release)
    // Read now: once a failed handshake closes the socket its address is gone.
    this.labels.set(raw, formatAddress('tcp', remote.host, remote.port))
    this.sockets.add(raw)
    raw.once('close', () => this.sockets.delete(raw))
    this.tlsServer().emit('connection', raw)
  }

  private tlsServer(): TlsServer {
    if (this.secureServer) return this.secureServer
    const { security, limits } = this.components
    const server = createTlsServer({
      ...tlsOptionsFor(security, 'server'),
      requestCert: true,
      rejectUnauthorized: false, // verifyTlsPeer decides, so the peer learns why it was refused
      handshakeTimeout: limits.handshakeTimeout,
    })
    server.on('secureConnection', (socket: TLSSocket) => this.secured(socket))
    server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
      // The TLS socket wraps the raw socket we labelled in accept().
      const raw = (socket as unknown as { _parent?: Socket })._parent
      const label = (raw && this.labels.get(raw)) ?? 'tcp://unknown'
      socket.destroy()
      const timedOut = /timeout/i.test(error.message)
      this.components.onInboundFailure(
        label,
        timedOut ? new TimeoutError(`TLS handshake not finished within ${limits.handshakeTimeout} ms`) : inboundFailure(label, error),
      )
    })
    this.secureServer = server
    return server
  }

  /** TLS is done: authenticate the peer and give the connection to the core. */
  private secured(socket: TLSSocket): void {
    const { security, limits } = this.components
    const label = formatAddress('tcp', normalizeIp(socket.remoteAddress ?? ''), socket.remotePort ?? 0)
    const muxer = new Muxer(socket, { direction: 'inbound', limits, logger: this.logger, ...this.muxOptions() })
    let peer: RemotePeer
    try {
      peer = verifyTlsPeer(socket, security)
    } catch (error) {
      const reason = errorMessage(error)
      void muxer.close({ code: CloseCode.AUTH_FAILED, reason })
      this.components.onInboundFailure(label, error instanceof Error ? error : new AuthenticationError(reason))
      return
    }
    const connection = new TcpConnection(socket, muxer, 'inbound', peer)
    this.adopt(connection)
    this.components.onInboundConnection(connection)
  }

  async dial(address: string, options: DialOptions = {}): Promise<TransportConnection> {
    const parsed = parseAddress(address)
    if (parsed?.transport !== 'tcp') throw new UnsupportedAddressError(address)
    const { signal, expectedPeerId } = options
    if (signal?.aborted) throw new AbortError()
    const { security, limits } = this.components
    return new Promise<TransportConnection>((resolve, reject) => {
      const socket = tlsConnect({
        ...this.clientTlsOptions(),
        rejectUnauthorized: false, // verifyTlsPeer decides, so the listener learns why it was refused
        host: parsed.host,
        port: parsed.port,
      })
      socket.setNoDelay(true)
      this.sockets.add(socket)
      const timer = setTimeout(
        () => fail(new TimeoutError(`TLS handshake with ${address} timed out after ${limits.handshakeTimeout} ms`)),
        limits.handshakeTimeout,
      )
      const cleanup = (): void => {
        this.dialing.delete(fail)
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        socket.off('error', fail)
      }
      function fail(error: unknown): void {
        cleanup()
        socket.destroy()
        reject(dialFailure(address, error))
      }
      const onAbort = (): void => fail(new AbortError())
      signal?.addEventListener('abort', onAbort, { once: true })
      this.dialing.add(fail)
      socket.once('error', fail)
      socket.once('close', () => this.sockets.delete(socket))
      socket.once('secureConnect', () => {
        cleanup()
        const muxer = new Muxer(socket, { direction: 'outbound', limits, logger: this.logger, ...this.muxOptions() })
        try {
          const peer = verifyTlsPeer(socket, security, expectedPeerId)
          const connection = new TcpConnection(socket, muxer, 'outbound', peer)
          this.adopt(connection)
          resolve(connection)
        } catch (error) {
          const reason = errorMessage(error)
          void muxer.close({ code: CloseCode.AUTH_FAILED, reason })
          reject(isCrustError(error, 'ERR_AUTHENTICATION') ? error : new AuthenticationError(reason, { cause: error }))
        }
      })
    })
  }

  /**
   * The client TLS options, with a secure context built once: given only PEM
   * options, every tls.connect would parse the certificate and key and build
   * a new context (about a millisecond per dial).
   */
  private clientTlsOptions(): ConnectionOptions {
    if (this.clientTls === undefined) {
      const options = tlsOptionsFor(this.components.security, 'client')
      this.clientTls = { ...options, secureContext: createSecureContext(options) }
    }
    return this.clientTls
  }

  /** Mux bounds from the transport options (undefined keeps the mux defaults). */
  private muxOptions(): { maxQueuedControlFrames?: number } {
    const max = this.options.maxQueuedControlFrames
    return max === undefined ? {} : { maxQueuedControlFrames: max }
  }

  private adopt(connection: TransportConnection): void {
    this.connections.add(connection)
    void connection.closed.then(() => this.connections.delete(connection))
  }

  async close(): Promise<void> {
    for (const fail of [...this.dialing]) fail(new DialError('the transport is closing'))
    const servers = this.listeners.splice(0).map(
      ({ server }) => new Promise<void>((resolve) => server.close(() => resolve())),
    )
    await Promise.allSettled([...this.connections].map((c) => c.close({ code: CloseCode.SHUTDOWN, reason: 'transport closing' })))
    for (const socket of this.sockets) socket.destroy()
    await Promise.all(servers)
  }
}
