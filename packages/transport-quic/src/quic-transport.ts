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
  TokenBucket,
  type Transport,
  type TransportComponents,
  type TransportConnection,
  UnsupportedAddressError,
  errorFromClose,
  errorMessage,
  expandWildcard,
  formatAddress,
  isLoopback,
  isWildcard,
  normalizeIp,
  parseAddress,
} from '@crust/core'
import { type QUICConnection, QUICConnectionId, QUICClient, QUICServer, type QUICSocket } from '@crust/quic-lib'
import type { Header } from '@crust/quic-lib/native/types.js'
import type { CertificateRefusal } from './chain.js'
import { closeInfoOf, encodeReason } from './codes.js'
import { clientCrypto, serverCrypto } from './crypto-ops.js'
import { type DropReason, DropLog } from './drop-log.js'
import { handshakeFailure } from './failures.js'
import { type LibraryLogger, type RemoteInfo, connectionInternals, serverInternals, socketInternals } from './internals.js'
import { libraryLogger } from './library-logger.js'
import { ListenerGuard } from './listener-guard.js'
import { type QuicOptions, type ResolvedQuicOptions, resolveOptions } from './options.js'
import { clientConfig, serverConfig } from './quic-config.js'
import { QuicConnection } from './quic-connection.js'
import { Refusals } from './refusal.js'
import { RetryTokens } from './retry-token.js'
import { SharedSocketDatagrams } from './datagrams.js'
import { warnIfUnpatched } from './library-patch.js'
import { startSharedSocket } from './shared-socket.js'
import { codeToReason, reasonToCode } from './stream-errors.js'
import { checkCertificates, verifyCallback } from './verify.js'

/** A budget of `rate` events per second, bursting to one second's worth. */
const perSecondBudget = (rate: number): TokenBucket => new TokenBucket({ perSecond: rate, burst: rate })

/** How long `close()` waits for connections to finish closing before it releases the socket anyway. */
const SHUTDOWN_GRACE_MS = 300

/**
 * Datagrams kept per attempt while it is at the gate (before the library
 * registers its connection): a client's retransmitted Initial or its close.
 */
const MAX_QUEUED_DATAGRAMS = 16
const MAX_QUEUED_BYTES = 64 * 1024

/** An inbound attempt in progress, and datagrams for it that arrived before its connection existed. */
interface Admitting {
  readonly queued: Array<{ data: Buffer; remote: RemoteInfo }>
  bytes: number
}

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
  /** Inbound attempts at the gate or handshaking now (at most `maxPendingHandshakes`). */
  readonly pendingHandshakes: number
}

/**
 * QUIC transport on `@matrixai/quic`. One UDP socket per node carries the
 * server and every outgoing connection; inbound attempts pass the core's gate
 * before any connection state exists; certificates are checked by the core's
 * auth mode inside the TLS handshake, and refusals reach both sides as typed
 * errors.
 */
export class QuicTransport implements Transport {
  readonly id = 'quic'
  readonly defaultListenAddresses: readonly string[]
  private readonly options: ResolvedQuicOptions
  private readonly logger: Logger
  private readonly libraryLogger: LibraryLogger
  private readonly caDers: Uint8Array[]
  private readonly connections = new Set<QuicConnection>()
  private readonly dials = new Set<AbortController>()
  /** Datagrams of attempts still at the gate or handshaking, by connection id (at most `maxPendingHandshakes`). */
  private readonly admitting = new Map<string, Admitting>()
  /** Dropped datagrams, counted per reason and summarised in the log. */
  private readonly drops: DropLog
  private guard: ListenerGuard | undefined
  private socket: Promise<QUICSocket> | undefined
  private server: QUICServer | undefined
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
    warnIfUnpatched(this.logger)
    this.drops = new DropLog(this.logger, this.options.dropSummaryInterval)
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
    return socket === undefined ? 0 : socketInternals(socket).connectionMap.size
  }

  /** What the listener dropped and answered statelessly (counters; see {@link QuicListenerStats}). */
  get stats(): QuicListenerStats {
    const sent = this.guard?.sent ?? { retries: 0, versionNegotiations: 0 }
    return { drops: this.drops.snapshot(), ...sent, pendingHandshakes: this.admitting.size }
  }

  /** The bound UDP endpoint, once there is one. */
  get localEndpoint(): { host: string; port: number } | undefined {
    const socket = this.boundSocket
    return socket === undefined ? undefined : { host: socket.host, port: socket.port }
  }

  async dial(address: string, options: DialOptions = {}): Promise<TransportConnection> {
    const parsed = parseAddress(address)
    if (parsed?.transport !== 'quic') throw new UnsupportedAddressError(address)
    const { signal, expectedPeerId } = options
    if (signal?.aborted) throw new AbortError()
    if (this.closing) throw new DialError(`${address}: the QUIC transport is closed`)
    const { security, limits } = this.components
    const socket = await (this.socket ?? this.bindSocket('::', 0, true))
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
    // A listener that refuses us (gate, certificate) closes right behind its first flight:
    // let datagrams already queued arrive, so such a refusal rejects the dial.
    await new Promise((resolve) => setImmediate(resolve))
    const refused = connectionInternals(quic).conn.peerError()
    if (refused !== null) {
      // The library is already draining the connection and destroys the client itself.
      throw errorFromClose(closeInfoOf(refused, true), address)
    }
    const connection = new QuicConnection({
      connection: quic,
      stop: (stop) => client.destroy(stop),
      direction: 'outbound',
      remotePeer: peer,
      remoteAddress: formatAddress('quic', normalizeIp(quic.remoteHost), quic.remotePort),
      localAddress: this.localAddressFor(socket, parsed.host),
      idleTimeout: limits.idleTimeout,
      logger: this.logger,
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
    // Closes are sent at once; waiting for each connection's draining period
    // (3 PTOs, up to seconds for a connection without RTT samples) is bounded.
    const closing = [...this.connections].map((c) => c.close({ code: CloseCode.SHUTDOWN, reason: 'transport closing' }))
    await withGrace(Promise.allSettled(closing), SHUTDOWN_GRACE_MS)
    const server = this.server
    this.server = undefined
    if (server !== undefined) {
      const stopping = server
        .stop({ isApp: true, errorCode: CloseCode.SHUTDOWN, reason: encodeReason('transport closing'), force: true })
        .catch((error: unknown) => this.logger.debug(`stopping the QUIC server: ${errorMessage(error)}`))
      await withGrace(stopping, SHUTDOWN_GRACE_MS)
    }
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
    const { security, limits } = this.components
    const verify = verifyCallback(security, {
      onVerdict: (verdict) => {
        if (!verdict.ok) this.logger.info(`refused a client certificate: ${verdict.error.message}`)
      },
    })
    const server = new QUICServer({
      crypto: serverCrypto(),
      socket,
      config: serverConfig(security, limits, this.options, verify),
      // Bounds every inbound handshake (the library's start timer for accepted connections).
      minIdleTimeout: limits.handshakeTimeout,
      reasonToCode,
      codeToReason,
      logger: this.libraryLogger,
    })
    this.gate(server, socket)
    await server.start()
    this.server = server
  }

  /**
   * Route every would-be connection through the core's gate. The listener
   * guard answers or drops every datagram for no known connection first
   * (nothing for datagrams under 1200 bytes, a budgeted stateless Retry or
   * Version Negotiation otherwise); only an Initial whose retry token is
   * ours, fresh, bound to its source address and connection id and unused,
   * i.e. from an address that proved it receives our packets, reaches the
   * gate, before any connection state or TLS work.
   */
  private gate(server: QUICServer, socket: QUICSocket): void {
    const internals = serverInternals(server)
    const accept = internals.acceptConnection.bind(server)
    const refusals = new Refusals(socket, server, this.logger)
    const { retryTokenLifetime, statelessReplyRate, maxPendingHandshakes } = this.options
    // Tokens exist only within the reply budget: at most budget × lifetime (+ one burst) are live to remember as used.
    const maxUsed = statelessReplyRate * (Math.ceil(retryTokenLifetime / 1000) + 1)
    const guard = new ListenerGuard(socket, new RetryTokens(retryTokenLifetime, maxUsed), perSecondBudget(statelessReplyRate), this.drops)
    this.guard = guard
    // The library checks the token again inside accept(), with its own format and without the
    // port; it gets the original connection id of the token we checked, once.
    const checked = new Map<string, QUICConnectionId>()
    internals.validateToken = async (token) => {
      const key = token.toString('latin1')
      const original = checked.get(key)
      checked.delete(key)
      return original
    }
    internals.acceptConnection = async (remote, header, dcid, data) => {
      const key = dcid.toString()
      if (this.queueForAttempt(key, data, remote)) return undefined
      const screening = await guard.screen(remote, header, data)
      if (screening.kind === 'done' || this.queueForAttempt(key, data, remote)) return undefined
      const token = guard.admit(screening.token, remote, header, this.admitting.size, maxPendingHandshakes)
      if (token === undefined) return undefined
      const tokenKey = Buffer.from(screening.token).toString('latin1')
      checked.set(tokenKey, QUICConnectionId.fromBuffer(token.original))
      this.admitting.set(key, { queued: [], bytes: 0 })
      try {
        await this.admit(accept, refusals, socket, remote, header, key, dcid, data, token.original)
      } catch (error) {
        this.logger.debug(`inbound attempt from ${remote.host}:${remote.port}: ${errorMessage(error)}`)
      } finally {
        this.admitting.delete(key)
        checked.delete(tokenKey)
      }
      return undefined // the socket only awaits this; never let it see a rejection
    }
  }

  private async admit(
    accept: (remote: RemoteInfo, header: Header, dcid: QUICConnectionId, data: Buffer) => Promise<QUICConnection | undefined>,
    refusals: Refusals,
    socket: QUICSocket,
    remote: RemoteInfo,
    header: Header,
    dcid: string,
    dcidBytes: QUICConnectionId,
    data: Buffer,
    original: Buffer,
  ): Promise<void> {
    // Only an address that proved it receives our packets (a valid retry token) gets here,
    // so spoofed sources can neither fill the per-IP counts nor trigger refusal events.
    if (this.closing || refusals.has(dcid)) return
    const host = normalizeIp(remote.host)
    const label = formatAddress('quic', host, remote.port)
    const decision = this.components.gate.admitInbound({ transport: 'quic', host, port: remote.port })
    if (!decision.allow) {
      await refusals.refuse(remote, header, original, dcid, data, decision.code, decision.reason)
      return
    }
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      decision.release?.()
    }
    let quic: QUICConnection | undefined
    const accepting = accept(remote, header, dcidBytes, data)
    // The library registers the connection before its handshake: hand it what arrived meanwhile.
    setImmediate(() => this.deliverQueued(socket, dcid))
    // Our own deadline as well as the library's start timer: a loaded event loop
    // must not stretch an abandoned handshake past handshakeTimeout.
    const { handshakeTimeout } = this.components.limits
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`QUIC handshake with ${label} not finished within ${handshakeTimeout} ms`)), handshakeTimeout)
    })
    try {
      quic = await Promise.race([accepting, deadline])
    } catch (error) {
      release()
      // A handshake that completes after all is closed at once.
      accepting.then(
        (late) => void late?.stop({ isApp: true, errorCode: CloseCode.HANDSHAKE_TIMEOUT, reason: encodeReason('handshake too slow'), force: true }).catch(() => {}),
        () => {},
      )
      if (!this.closing) this.components.onInboundFailure(label, handshakeFailure(label, error, 'accept', handshakeTimeout))
      return
    } finally {
      clearTimeout(timer)
    }
    if (quic === undefined) {
      release() // an invalid token: nothing was created
      return
    }
    const accepted = quic
    void accepted.closedP.then(release)
    // A client that refuses our certificate does so right after its Finished,
    // which completed our side: let datagrams already queued arrive, so such
    // a refusal is reported here rather than handed over as a dying connection.
    await new Promise((resolve) => setImmediate(resolve))
    const refused = connectionInternals(accepted).conn.peerError()
    if (refused !== null) {
      this.components.onInboundFailure(label, errorFromClose(closeInfoOf(refused, true), label))
      return
    }
    const verdict = checkCertificates(this.components.security, accepted.getRemoteCertsChain(), this.caDers)
    if (!verdict.ok) {
      // Unreachable: the handshake's callback accepted this very chain.
      await accepted.stop({ isApp: true, errorCode: CloseCode.AUTH_FAILED, reason: encodeReason(verdict.error.message), force: true })
      this.components.onInboundFailure(label, verdict.error)
      return
    }
    const connection = new QuicConnection({
      connection: accepted,
      stop: (stop) => accepted.stop(stop),
      direction: 'inbound',
      remotePeer: verdict.peer,
      remoteAddress: label,
      localAddress: this.localAddressFor(socket, host),
      idleTimeout: this.components.limits.idleTimeout,
      logger: this.logger,
    })
    this.adopt(connection)
    if (this.closing) {
      void connection.close({ code: CloseCode.SHUTDOWN, reason: 'transport closing' })
      return
    }
    this.components.onInboundConnection(connection)
  }

  /**
   * Keep a datagram for an attempt in progress whose connection the library
   * has not registered yet (a retransmitted Initial, or the client's
   * CONNECTION_CLOSE), instead of re-gating it; false if there is no such attempt.
   */
  private queueForAttempt(key: string, data: Buffer, remote: RemoteInfo): boolean {
    const waiting = this.admitting.get(key)
    if (waiting === undefined) return false
    if (waiting.queued.length < MAX_QUEUED_DATAGRAMS && waiting.bytes + data.byteLength <= MAX_QUEUED_BYTES) {
      waiting.queued.push({ data, remote })
      waiting.bytes += data.byteLength
    }
    return true
  }

  private deliverQueued(socket: QUICSocket, dcid: string): void {
    const queued = this.admitting.get(dcid)?.queued
    if (queued === undefined || queued.length === 0) return
    const connection = socketInternals(socket).connectionMap.serverConnections.get(dcid)
    if (connection === undefined) return
    for (const { data, remote } of queued.splice(0)) {
      connectionInternals(connection)
        .recv(data, remote)
        .catch(() => {})
    }
  }

  private adopt(connection: QuicConnection): void {
    this.connections.add(connection)
    void connection.closed.then(() => this.connections.delete(connection))
  }

  /**
   * Our address as the peer sees it, as far as we know it: a wildcard socket
   * has no single local address, so loopback peers get the loopback address
   * of their family and others the wildcard.
   */
  private localAddressFor(socket: QUICSocket, remoteHost: string): string {
    let host = normalizeIp(socket.host)
    if (isWildcard(host) && isLoopback(remoteHost)) host = isIPv6(normalizeIp(remoteHost)) ? '::1' : '127.0.0.1'
    return formatAddress('quic', host, socket.port)
  }
}
