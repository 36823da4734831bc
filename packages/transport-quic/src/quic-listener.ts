/**
 * The QUIC transport's accepting side: the library's server on the node's
 * socket, with every would-be connection routed through the listener guard
 * and the core's gate before any connection state exists, and admitted
 * connections checked and handed to the core.
 *
 * @packageDocumentation
 */
import { CloseCode, type Logger, TimeoutError, type TransportComponents } from '@crust/core'
import { TokenBucket, errorFromClose, errorMessage, formatAddress, isLoopback, normalizeIp } from '@crust/core/plugin'
import { type QUICConnection, QUICConnectionId, QUICServer, type QUICServerAcceptGate, type QUICServerAttempt, type QUICSocket, native } from '@crust/quic-lib'
import { closeInfoOf, encodeReason } from './codes.js'
import { serverCrypto } from './crypto-ops.js'
import type { DropLog } from './drop-log.js'
import { handshakeFailure } from './failures.js'
import type { LibraryLogger } from './library-logger.js'
import { ListenerGuard } from './listener-guard.js'
import type { ResolvedQuicOptions } from './options.js'
import { livenessOf, pathPayload, serverConfig } from './quic-config.js'
import { QuicConnection } from './quic-connection.js'
import { MAX_PEER_CHANNELS, channelFor } from './message-channel.js'
import { Refusals } from './refusal.js'
import { type ServerParams, StatelessResets, tokenConfig } from './stateless-reset.js'
import { RetryTokens } from './retry-token.js'
import { localAddressFor } from './shared-socket.js'
import { codeToReason, reasonToCode } from './stream-errors.js'
import { AcceptedChains, checkCertificates, verifyCallback } from './verify.js'

const { quiche } = native

/** A budget of `rate` events per second, bursting to one second's worth. */
export const perSecondBudget = (rate: number): TokenBucket => new TokenBucket({ perSecond: rate, burst: rate })

/**
 * Datagrams kept per attempt while it is at the gate (before the library
 * registers its connection): a client's retransmitted Initial or its close.
 */
const MAX_QUEUED_DATAGRAMS = 16
const MAX_QUEUED_BYTES = 64 * 1024

/** An inbound attempt in progress, and datagrams for it that arrived before its connection existed. */
interface Admitting {
  readonly queued: Array<{ data: Buffer; remote: QUICServerAttempt['remoteInfo'] }>
  bytes: number
}

/** The library's accept for an attempt the gate lets in: with the original DCID of the retry token we checked. */
type Accept = Parameters<QUICServerAcceptGate>[1]

/** What the listener needs from its transport. */
export interface QuicListenerContext {
  readonly components: TransportComponents
  readonly options: ResolvedQuicOptions
  readonly logger: Logger
  readonly libraryLogger: LibraryLogger
  /** The configured CA certificates, DER-encoded. */
  readonly caDers: Uint8Array[]
  readonly drops: DropLog
  /** Whether the transport is closing (attempts still in progress are then dropped). */
  readonly isClosing: () => boolean
  /** Track an admitted connection until it closes. */
  readonly adopt: (connection: QuicConnection) => void
  /** A short-header datagram for no known connection from `remote`: maybe the stateless reset of a connection we dialled there. */
  readonly offerReset: (data: Buffer, remote: QUICServerAttempt['remoteInfo']) => void
}

/**
 * Accepts connections on the node's socket. Holds the library's server, the
 * listener guard (stateless Retry and Version Negotiation, budgets) and the
 * attempts at the gate or handshaking (at most `maxPendingHandshakes`).
 */
export class QuicListener {
  /** Datagrams of attempts still at the gate or handshaking, by connection id (at most `maxPendingHandshakes`). */
  private readonly admitting = new Map<string, Admitting>()
  private readonly server: QUICServer
  private readonly guard: ListenerGuard
  private readonly refusals: Refusals
  private readonly resets: StatelessResets
  /** What sizes the server's transport parameters (see {@link tokenConfig}). */
  private readonly params: Omit<ServerParams, 'maxRecvUdpPayloadSize'>
  /** Chains the handshake's certificate callback accepted, awaiting their handshake's end. */
  private readonly acceptedChains: AcceptedChains

  /** Set up the server on `socket` and gate it; {@link start} starts accepting. */
  constructor(
    private readonly context: QuicListenerContext,
    private readonly socket: QUICSocket,
  ) {
    const { security, limits } = context.components
    const accepted = new AcceptedChains(context.options.maxPendingHandshakes, limits.handshakeTimeout)
    this.acceptedChains = accepted
    const verify = verifyCallback(security, {
      onVerdict: (verdict, chain) => {
        if (verdict.ok) accepted.remember(chain, verdict.peer)
        else context.logger.info(`refused a client certificate: ${verdict.error.message}`)
      },
    })
    const config = serverConfig(security, limits, context.options, verify)
    this.server = new QUICServer({
      crypto: serverCrypto(),
      socket,
      config,
      // Bounds every inbound handshake (the library's start timer for accepted connections).
      minIdleTimeout: limits.handshakeTimeout,
      reasonToCode,
      codeToReason,
      logger: context.libraryLogger,
      acceptGate: (attempt, accept) => this.gate(attempt, accept),
    })
    const { retryTokenLifetime, statelessReplyRate } = context.options
    // Tokens exist only within the reply budget: at most budget × lifetime (+ one burst) are live to remember as used.
    const maxUsed = statelessReplyRate * (Math.ceil(retryTokenLifetime / 1000) + 1)
    this.resets = new StatelessResets(security.privateKeyPem, socket, perSecondBudget(statelessReplyRate))
    // Retries carry connection ids this node can recognise after a restart (see StatelessResets).
    const tokens = new RetryTokens(retryTokenLifetime, maxUsed, undefined, () => this.resets.newConnectionId())
    this.guard = new ListenerGuard(socket, tokens, perSecondBudget(statelessReplyRate), context.drops)
    this.refusals = new Refusals(socket, config, context.logger)
    this.params = {
      maxIdleTimeout: livenessOf(limits, context.options).maxIdleTimeout,
      initialMaxData: context.options.initialMaxData,
      initialMaxStreamDataBidiLocal: context.options.initialMaxStreamData,
      initialMaxStreamDataBidiRemote: context.options.initialMaxStreamData,
      initialMaxStreamDataUni: context.options.initialMaxStreamData,
      // Room for the client's message channels besides its streams (see MAX_PEER_CHANNELS).
      initialMaxStreamsBidi: limits.maxInboundStreams + MAX_PEER_CHANNELS,
      initialMaxStreamsUni: limits.maxInboundStreams,
    }
  }

  /** Stateless replies sent so far. */
  get sent(): { retries: number; versionNegotiations: number; statelessResets: number } {
    return { ...this.guard.sent, statelessResets: this.resets.sent }
  }

  /** Inbound attempts at the gate or handshaking now. */
  get pendingHandshakes(): number {
    return this.admitting.size
  }

  start(): Promise<void> {
    return this.server.start()
  }

  /** Stop the server, closing what it still holds with SHUTDOWN. */
  stop(): Promise<void> {
    return this.server.stop({ isApp: true, errorCode: CloseCode.SHUTDOWN, reason: encodeReason('transport closing'), force: true })
  }

  /**
   * Route every would-be connection through the core's gate (the server's
   * accept gate: it sees every datagram for no known connection). The
   * listener guard answers or drops each first (nothing for datagrams under
   * 1200 bytes, a budgeted stateless Retry or Version Negotiation otherwise);
   * only an Initial whose retry token is ours, fresh, bound to its source
   * address and connection id and unused, i.e. from an address that proved
   * it receives our packets, reaches the gate, before any connection state
   * or TLS work. The library then accepts with the original connection id of
   * the token we checked (it does not check tokens itself).
   */
  private async gate(attempt: QUICServerAttempt, accept: Accept): Promise<void> {
    const { remoteInfo: remote, header, dcid, data } = attempt
    const key = dcid.toString()
    if (this.queueForAttempt(key, data, remote)) return
    if (header.ty === quiche.Type.Short) {
      // A connection we no longer know (this node restarted, or closed it): a stateless reset tells the peer
      // at once. And the datagram may itself be the peer's reset of a connection we dialled.
      this.context.offerReset(data, remote)
      this.context.drops.count('unknown-connection')
      await this.resets.answer(dcid, data.byteLength, remote)
      return
    }
    const screening = await this.guard.screen(remote, header, data)
    if (screening.kind === 'done' || this.queueForAttempt(key, data, remote)) return
    const token = this.guard.admit(screening.token, remote, header, this.admitting.size, this.context.options.maxPendingHandshakes)
    if (token === undefined) return
    this.admitting.set(key, { queued: [], bytes: 0 })
    try {
      await this.admit(accept, attempt, token.original)
    } catch (error) {
      this.context.logger.debug(`inbound attempt from ${remote.host}:${remote.port}: ${errorMessage(error)}`)
    } finally {
      this.admitting.delete(key)
    }
    // The socket only awaits this; it never sees a rejection.
  }

  private async admit(accept: Accept, attempt: QUICServerAttempt, original: Buffer): Promise<void> {
    const { remoteInfo: remote, header, data } = attempt
    const dcid = attempt.dcid.toString()
    const refusals = this.refusals
    const { components, isClosing } = this.context
    // Only an address that proved it receives our packets (a valid retry token) gets here,
    // so spoofed sources can neither fill the per-IP counts nor trigger refusal events.
    if (isClosing() || refusals.has(dcid)) return
    const host = normalizeIp(remote.host)
    const label = formatAddress('quic', host, remote.port)
    const decision = components.gate.admitInbound({ transport: 'quic', host, port: remote.port })
    if (!decision.allow) {
      await refusals.refuse(remote, header, original, dcid, data, decision.code, decision.reason)
      return
    }
    const release = releaseOnce(decision.release)
    let quic: QUICConnection | undefined
    // The datagram size of this client's path, and the token a restarted node can reset it with (if it fits).
    const payload = pathPayload(this.context.options, isLoopback(host))
    const token = tokenConfig(this.resets.tokenFor(attempt.dcid), { ...this.params, ...payload }, original.byteLength)
    const config = { ...payload, ...token }
    const accepting = accept(QUICConnectionId.fromBuffer(original), config)
    // The library registers the connection before its handshake: hand it what arrived meanwhile.
    setImmediate(() => this.deliverQueued(attempt.dcid))
    // Our own deadline as well as the library's start timer: a loaded event loop
    // must not stretch an abandoned handshake past handshakeTimeout.
    const { handshakeTimeout } = components.limits
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
      if (!isClosing()) components.onInboundFailure(label, handshakeFailure(label, error, 'accept', handshakeTimeout))
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
    // which completed our side: one turn of the loop lets a close that arrived
    // with it be reported here rather than hand over a dying connection. Not
    // needed for a typed result: a later close reaches the core's handshake
    // through the connection's close, as the same typed error.
    await new Promise((resolve) => setImmediate(resolve))
    const refused = accepted.conn.peerError()
    if (refused !== null) {
      components.onInboundFailure(label, errorFromClose(closeInfoOf(refused, true), label))
      return
    }
    // The handshake's callback verified this very chain: reuse its verdict rather than check it twice.
    const chain = accepted.getRemoteCertsChain()
    const verdict = this.acceptedChains.take(chain) ?? checkCertificates(components.security, chain, this.context.caDers)
    if (!verdict.ok) {
      // Unreachable: the handshake's callback accepted this very chain.
      await accepted.stop({ isApp: true, errorCode: CloseCode.AUTH_FAILED, reason: encodeReason(verdict.error.message), force: true })
      components.onInboundFailure(label, verdict.error)
      return
    }
    const connection = new QuicConnection({
      connection: accepted,
      // Bound, not a closure: one here would keep admit's context, the attempt's datagram included (see releaseOnce).
      stop: accepted.stop.bind(accepted),
      direction: 'inbound',
      remotePeer: verdict.peer,
      remoteAddress: label,
      localAddress: localAddressFor(this.socket, host),
      idleTimeout: components.limits.idleTimeout,
      maxIdleTimeout: livenessOf(components.limits, this.context.options).maxIdleTimeout,
      logger: this.context.logger,
      maxInboundStreams: components.limits.maxInboundStreams,
      ...channelFor(accepted, components.limits, this.context.options.messageChannelIdleTimeout),
    })
    this.context.adopt(connection)
    if (isClosing()) {
      void connection.close({ code: CloseCode.SHUTDOWN, reason: 'transport closing' })
      return
    }
    components.onInboundConnection(connection)
  }

  /**
   * Keep a datagram for an attempt in progress whose connection the library
   * has not registered yet (a retransmitted Initial, or the client's
   * CONNECTION_CLOSE), instead of re-gating it; false if there is no such attempt.
   */
  private queueForAttempt(key: string, data: Buffer, remote: QUICServerAttempt['remoteInfo']): boolean {
    const waiting = this.admitting.get(key)
    if (waiting === undefined) return false
    if (waiting.queued.length < MAX_QUEUED_DATAGRAMS && waiting.bytes + data.byteLength <= MAX_QUEUED_BYTES) {
      waiting.queued.push({ data, remote })
      waiting.bytes += data.byteLength
    }
    return true
  }

  private deliverQueued(dcid: QUICConnectionId): void {
    const queued = this.admitting.get(dcid.toString())?.queued
    if (queued === undefined || queued.length === 0) return
    const connection = this.socket.getConnection(dcid)
    if (connection === undefined) return
    for (const { data, remote } of queued.splice(0)) connection.recv(data, remote).catch(() => {})
  }
}

/**
 * `release`, run once however often the result is called. Made here rather
 * than inside `admit`: a closure there would share admit's context, and
 * with it the attempt's first datagram (1.2 KB), for as long as the
 * connection lives (`closedP` holds it).
 */
function releaseOnce(release: (() => void) | undefined): () => void {
  let released = false
  return () => {
    if (released) return
    released = true
    release?.()
  }
}
