import { X509Certificate } from 'node:crypto'
import { isIPv6 } from 'node:net'
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
} from '@crust/core'
import {
  errorFromClose,
  errorMessage,
  expandWildcard,
  formatAddress,
  isLoopback,
  isWildcard,
  normalizeIp,
  parseAddress,
} from '@crust/core/plugin'
import { QUICClient, type QUICSocket } from '@crust/quic-lib'
import type { CertificateRefusal } from './chain.js'
import { closeInfoOf, encodeReason } from './codes.js'
import { clientCrypto } from './crypto-ops.js'
import { type DropReason, DropLog } from './drop-log.js'
import { handshakeFailure } from './failures.js'
import { type LibraryLogger, libraryLogger } from './library-logger.js'
import { type QuicOptions, type ResolvedQuicOptions, resolveOptions } from './options.js'
import { clientConfig, livenessOf } from './quic-config.js'
import { FLUSH_TIMEOUT_MS, QuicConnection } from './quic-connection.js'
import { KeepAlives } from './keep-alive.js'
import { channelFor } from './message-channel.js'
import { QuicListener, perSecondBudget } from './quic-listener.js'
import { SharedSocketDatagrams } from './datagrams.js'
import { localAddressFor, startSharedSocket } from './shared-socket.js'
import { codeToReason, reasonToCode } from './stream-errors.js'
import { verifyCallback } from './verify.js'

/** How long `close()` waits for connections to finish closing before it releases the socket anyway. */
const SHUTDOWN_GRACE_MS = 300

/** Wait for `work`, but no longer than `ms`. */
async function withGrace(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}

/** What the listener did with datagrams from peers it had not validated (see the README's "Limits and attack surface"). */
export interface QuicListenerStats {
  /** Datagrams dropped since the transport started, per reason. */
  readonly drops: Readonly<Record<DropReason, number>>
  /** Retry packets sent (one per accepted token-less Initial). */
  readonly retries: number
  /** Version Negotiation packets sent. */
  readonly versionNegotiations: number
  /** Stateless resets sent (answers to datagrams for connections this node does not know, e.g. after a restart). */
  readonly statelessResets: number
  /** Inbound attempts at the gate or handshaking now (at most `maxPendingHandshakes`). */
  readonly pendingHandshakes: number
}

/**
 * QUIC transport on `@matrixai/quic`. One UDP socket per node carries the
 * server and every outgoing connection; inbound attempts pass the core's gate
 * before any connection state exists; certificates are checked by the core's
 * auth mode inside the TLS handshake, and refusals reach both sides as typed
 * errors. This class owns the socket, dialling and closing; the accepting
 * side is {@link QuicListener}.
 */
export class QuicTransport implements Transport {
  readonly id = 'quic'
  readonly defaultListenAddresses: readonly string[]
  private readonly options: ResolvedQuicOptions
  private readonly logger: Logger
  private readonly libraryLogger: LibraryLogger
  private readonly caDers: Uint8Array[]
  private readonly connections = new Set<QuicConnection>()
  /** One timer for every connection's keep-alives (none when the limits ask for none). */
  private readonly keepAlives: KeepAlives | undefined
  private readonly dials = new Set<AbortController>()
  /** Sockets of single outgoing connections (`DialOptions.localPort`), stopped with them. */
  private readonly ownSockets = new Set<QUICSocket>()
  /** Dropped datagrams, counted per reason and summarised in the log. */
  private readonly drops: DropLog
  /** The latest listener set up (its counters stay readable after close). */
  private listener: QuicListener | undefined
  private socket: Promise<QUICSocket> | undefined
  /** The listener once started, until close. */
  private server: QuicListener | undefined
  /** Raw non-QUIC datagrams on the shared socket (STUN, hole punching). */
  readonly datagrams: SharedSocketDatagrams
  private closing = false

  constructor(
    private readonly components: TransportComponents,
    options: QuicOptions = {},
  ) {
    this.options = resolveOptions(options)
    this.defaultListenAddresses = [formatAddress('quic', options.host ?? '::', this.options.port)]
    this.logger = components.logger.child('quic')
    this.libraryLogger = libraryLogger(this.logger)
    this.caDers = components.security.ca.map((pem) => new X509Certificate(pem).raw)
    this.drops = new DropLog(this.logger, this.options.dropSummaryInterval)
    const { keepAliveInterval } = livenessOf(components.limits, this.options)
    this.keepAlives = keepAliveInterval === undefined ? undefined : new KeepAlives(keepAliveInterval)
    this.datagrams = new SharedSocketDatagrams(
      () => this.bound,
      () => {
        if (this.closing) return Promise.reject(new Error('the QUIC transport is closed'))
        return this.socket ?? this.bindSocket('::', 0, true)
      },
      this.logger,
      perSecondBudget(this.options.foreignDatagramRate),
      this.drops,
    )
  }

  canDial(address: string): boolean {
    return parseAddress(address)?.transport === 'quic'
  }

  /**
   * Bind the node's UDP socket to `address` and accept connections on it.
   * There is one socket per node: a second call only succeeds when the
   * socket already covers it (e.g. `quic://0.0.0.0:p` after `quic://[::]:p`).
   */
  async listen(address: string): Promise<void> {
    const parsed = parseAddress(address)
    if (parsed?.transport !== 'quic') throw new UnsupportedAddressError(address)
    if (this.closing) throw new Error('the QUIC transport is closed')
    if (this.socket !== undefined) {
      const socket = await this.socket
      if (!this.covers(socket, parsed.host, parsed.port)) {
        throw new Error(`cannot listen on ${address}: this node's one QUIC socket is bound to ${formatAddress('quic', socket.host, socket.port)}`)
      }
      if (this.server === undefined) await this.startServer(socket)
      return
    }
    const socket = await this.bindSocket(parsed.host, parsed.port, this.options.host === undefined)
    await this.startServer(socket)
  }

  addresses(): string[] {
    if (this.server === undefined || this.socket === undefined) return []
    const socket = this.boundSocket
    if (socket === undefined) return []
    return expandWildcard(socket.host, { dualStack: socket.type === 'ipv4&ipv6' }).map((host) => formatAddress('quic', host, socket.port))
  }

  /** QUIC connections the library currently holds on this node's socket (handshaking ones included). */
  get connectionCount(): number {
    const socket = this.boundSocket
    return socket === undefined ? 0 : socket.connectionCount
  }

  /** What the listener dropped and answered statelessly (counters; see {@link QuicListenerStats}). */
  get stats(): QuicListenerStats {
    const sent = this.listener?.sent ?? { retries: 0, versionNegotiations: 0, statelessResets: 0 }
    return { drops: this.drops.snapshot(), ...sent, pendingHandshakes: this.listener?.pendingHandshakes ?? 0 }
  }

  /** The bound UDP endpoint, once there is one. */
  get localEndpoint(): { host: string; port: number } | undefined {
    const socket = this.boundSocket
    return socket === undefined ? undefined : { host: socket.host, port: socket.port }
  }

  async dial(address: string, options: DialOptions = {}): Promise<TransportConnection> {
    const parsed = parseAddress(address)
    if (parsed?.transport !== 'quic') throw new UnsupportedAddressError(address)
    if (options.signal?.aborted) throw new AbortError()
    if (this.closing) throw new DialError(`${address}: the QUIC transport is closed`)
    if (options.localPort === undefined) return this.dialOn(await (this.socket ?? this.bindSocket('::', 0, true)), parsed.host, parsed.port, options)
    const socket = await this.ownSocket(parsed.host, options.localPort)
    try {
      const connection = await this.dialOn(socket, parsed.host, parsed.port, options)
      void connection.closed.finally(() => this.releaseOwn(socket))
      return connection
    } catch (error) {
      await this.releaseOwn(socket)
      throw error
    }
  }

  /**
   * A socket of one outgoing connection's own, bound to `port` (see
   * `DialOptions.localPort`): hole punching found a NAT mapping that belongs
   * to that port. It carries that connection only (no server, no foreign
   * datagrams) and is stopped when the connection closes.
   */
  private async ownSocket(remoteHost: string, port: number): Promise<QUICSocket> {
    const socket = await startSharedSocket({
      host: isIPv6(normalizeIp(remoteHost)) ? '::' : '0.0.0.0',
      port,
      bufferSize: this.options.socketBufferSize,
      logger: this.logger,
      libraryLogger: this.libraryLogger,
      onForeignDatagram: () => {}, // late punch packets: nothing listens here
      onUnparsable: () => this.drops.count('unparsable'),
    })
    this.ownSockets.add(socket)
    return socket
  }

  private async releaseOwn(socket: QUICSocket): Promise<void> {
    if (!this.ownSockets.delete(socket)) return
    await socket.stop({ force: true }).catch((error: unknown) => this.logger.debug(`stopping a connection's own QUIC socket: ${errorMessage(error)}`))
  }

  private async dialOn(socket: QUICSocket, host: string, port: number, options: DialOptions): Promise<QuicConnection> {
    const address = formatAddress('quic', host, port)
    const parsed = { host, port }
    const { signal, expectedPeerId } = options
    const { security, limits } = this.components
    let refusal: CertificateRefusal | undefined
    let peer: RemotePeer | undefined
    const verify = verifyCallback(security, {
      expectedPeerId,
      onVerdict: (verdict) => {
        if (verdict.ok) peer = verdict.peer
        else refusal = verdict.error
      },
    })
    const timeoutMs = limits.handshakeTimeout
    const controller = new AbortController()
    const timer = setTimeout(
      () => controller.abort(new TimeoutError(`QUIC handshake with ${address} not finished within ${timeoutMs} ms`)),
      timeoutMs,
    )
    const onAbort = (): void => controller.abort(new AbortError())
    signal?.addEventListener('abort', onAbort, { once: true })
    this.dials.add(controller)
    let client: QUICClient
    try {
      client = await QUICClient.createQUICClient(
        {
          host: parsed.host,
          port: parsed.port,
          socket,
          crypto: clientCrypto,
          config: clientConfig(security, limits, this.options, verify, isLoopback(parsed.host)),
          reasonToCode,
          codeToReason,
          logger: this.libraryLogger,
        },
        // The library's own deadline is a backstop behind ours.
        { signal: controller.signal, timer: timeoutMs + 1000 },
      )
    } catch (error) {
      if (refusal !== undefined) throw new AuthenticationError(`${address}: ${refusal.message}`, { cause: refusal })
      if (controller.signal.aborted && controller.signal.reason instanceof Error) throw controller.signal.reason
      throw handshakeFailure(address, error, 'dial', timeoutMs)
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      this.dials.delete(controller)
    }
    if (peer === undefined) {
      // The callback always runs before the library reports the connection as up.
      await client.destroy({ isApp: true, errorCode: CloseCode.AUTH_FAILED, reason: encodeReason('certificate not verified'), force: true })
      throw new AuthenticationError(`${address}: the remote certificate was not verified`)
    }
    const quic = client.connection
    // A listener that refuses us (gate, certificate) sends its close right behind the flight that
    // completed our side. Datagrams that arrived together are read in one poll phase, so one
    // turn of the loop lets such a close reject the dial itself (the transport contract's gate
    // case). Nothing typed depends on this: a close that arrives later fails the core's
    // handshake stream with the close attached (QuicStream), and becomes the same typed error.
    await new Promise((resolve) => setImmediate(resolve))
    const refused = quic.conn.peerError()
    if (refused !== null) {
      // The library is already draining the connection and destroys the client itself.
      throw errorFromClose(closeInfoOf(refused, true), address)
    }
    const connection = new QuicConnection({
      connection: quic,
      // Bound, not a closure: one here would keep this dial's context (callbacks, controller) for the connection's life.
      stop: client.destroy.bind(client),
      direction: 'outbound',
      remotePeer: peer,
      remoteAddress: formatAddress('quic', normalizeIp(quic.remoteHost), quic.remotePort),
      localAddress: localAddressFor(socket, parsed.host),
      idleTimeout: limits.idleTimeout,
      maxIdleTimeout: livenessOf(limits, this.options).maxIdleTimeout,
      logger: this.logger,
      maxInboundStreams: limits.maxInboundStreams,
      ...channelFor(quic, limits, this.options.messageChannelIdleTimeout),
    })
    this.adopt(connection)
    if (this.closing) {
      await connection.close({ code: CloseCode.SHUTDOWN, reason: 'transport closing' })
      throw new DialError(`${address}: the QUIC transport is closed`)
    }
    return connection
  }

  async close(): Promise<void> {
    this.closing = true
    for (const dial of this.dials) dial.abort(new AbortError('the QUIC transport is closing'))
    // Each close flushes what was written (bounded by FLUSH_TIMEOUT_MS), then is sent;
    // quiche's draining period goes on in the background and is not waited for.
    const closing = [...this.connections].map((c) => c.close({ code: CloseCode.SHUTDOWN, reason: 'transport closing' }))
    await withGrace(Promise.allSettled(closing), FLUSH_TIMEOUT_MS + SHUTDOWN_GRACE_MS)
    const server = this.server
    this.server = undefined
    if (server !== undefined) {
      const stopping = server
        .stop()
        .catch((error: unknown) => this.logger.debug(`stopping the QUIC server: ${errorMessage(error)}`))
      await withGrace(stopping, SHUTDOWN_GRACE_MS)
    }
    await Promise.all([...this.ownSockets].map((own) => this.releaseOwn(own)))
    const socket = this.boundSocket
    if (socket !== undefined) {
      await socket.stop({ force: true }).catch((error: unknown) => this.logger.debug(`stopping the QUIC socket: ${errorMessage(error)}`))
    }
    this.drops.close()
  }

  private bound: QUICSocket | undefined
  private get boundSocket(): QUICSocket | undefined {
    return this.bound
  }

  /** Bind the node's one socket; a default `::` falls back to `0.0.0.0` where IPv6 is unavailable. */
  private bindSocket(host: string, port: number, fallback: boolean): Promise<QUICSocket> {
    const start = (bindHost: string) =>
      startSharedSocket({
        host: bindHost,
        port,
        bufferSize: this.options.socketBufferSize,
        logger: this.logger,
        libraryLogger: this.libraryLogger,
        onForeignDatagram: (data, remote) => this.datagrams.deliver(data, remote),
        onUnparsable: () => this.drops.count('unparsable'),
      })
    const starting = start(host)
      .catch((error: unknown) => {
        if (!(fallback && host === '::')) throw error
        this.logger.info(`cannot bind [::]:${port} (${errorMessage(error)}); using 0.0.0.0`)
        return start('0.0.0.0')
      })
      .then((socket) => {
        this.bound = socket
        return socket
      })
    this.socket = starting
    starting.catch(() => {
      if (this.socket === starting) this.socket = undefined
    })
    return starting
  }

  private covers(socket: QUICSocket, host: string, port: number): boolean {
    if (port !== 0 && port !== socket.port) return false
    if (host === socket.host) return true
    if (!isWildcard(host) || !isWildcard(socket.host)) return false
    return socket.type === 'ipv4&ipv6' || (socket.type === 'ipv4') === !isIPv6(host)
  }

  private async startServer(socket: QUICSocket): Promise<void> {
    const listener = new QuicListener(
      {
        components: this.components,
        options: this.options,
        logger: this.logger,
        libraryLogger: this.libraryLogger,
        caDers: this.caDers,
        drops: this.drops,
        isClosing: () => this.closing,
        adopt: (connection) => this.adopt(connection),
        offerReset: (data, remote) => {
          for (const connection of this.connections) connection.offerStatelessReset(data, remote)
        },
      },
      socket,
    )
    this.listener = listener
    await listener.start()
    this.server = listener
  }

  private adopt(connection: QuicConnection): void {
    this.connections.add(connection)
    this.keepAlives?.add(connection)
    void connection.closed.then(() => {
      this.connections.delete(connection)
      this.keepAlives?.delete(connection)
    })
  }
}
