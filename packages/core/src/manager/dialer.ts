/**
 * Outbound connections: shared dials (concurrent `connect`s to one peer share
 * one attempt), address racing across transports (Happy Eyeballs, twice over),
 * retries with backoff, NAT traversal raced against the direct dial, and the
 * dials services make themselves.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import type { Connection } from '../connection/connection.js'
import { type HandshakeInfo, dialerHandshake } from '../connection/handshake.js'
import { Tokens } from '../di/tokens.js'
import {
  AbortError,
  AllCandidatesFailedError,
  AuthenticationError,
  BlacklistedError,
  ConfigError,
  ConnectionLimitError,
  DialError,
  type ErrorCode,
  NotStartedError,
  TimeoutError,
  UnsupportedAddressError,
  isCrustError,
} from '../errors.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import { sleepUnlessAborted } from '../events/sleep.js'
import type { Logger } from '../logger.js'
import { isPeerId } from '../identity/peer-id.js'
import { formatAddress, normalizeIp, parseAddress } from '../transport/address.js'
import { CloseCode, type ConnectionMethod, isConnectionMethod, isDialerMethod, type SecurityContext, type TransportConnection } from '../transport/types.js'
import type { Admission } from './admission.js'
import { asError } from '../error-text.js'
import type { Blacklist } from './blacklist.js'
import type { Establisher } from './establisher.js'
import type { ConnectionPool } from './pool.js'
import { RaceFailedError, raceStaggered } from './race.js'
import { retryWithBackoff } from './retry.js'
import { unlessAbandoned } from './handover.js'
import type { RunState } from './run-state.js'
import type { TransportHost } from './transport-host.js'
import { fallbackReason, groupByTransport } from './transport-order.js'
import { type DialFailure, type Traversal, describeFailure } from './traversal.js'
import { type NodeMetrics, errorCode } from '../metrics/node-metrics.js'

/** Who to connect to: a peer id (checked against its certificate) and where to find it. */
export interface PeerContact {
  /** The expected peer id; omit to accept whoever answers (its id is then learned from its certificate). */
  readonly peerId?: string
  /** Transport addresses, e.g. `tcp://127.0.0.1:4001`. */
  readonly addresses: readonly string[]
}

/** Options for {@link ConnectionManager.connect}. */
export interface ConnectOptions {
  /** Cancel the attempt (and its retries). */
  readonly signal?: AbortSignal
  /** Retry with exponential backoff on transient failures (default true). */
  readonly retry?: boolean
  /** Use only this transport (e.g. `'quic'`), instead of preferring TCP and falling back. */
  readonly transport?: string
  /**
   * Dial anew even though a connection to the peer is pooled: that one is
   * suspect (its probe went unanswered). A new connection takes its place if
   * it does not answer (see `Establisher`'s liveness contest).
   */
  readonly fresh?: boolean
}

/** Codes of the errors that no retry can fix. */
const PERMANENT: ReadonlySet<string> = new Set<ErrorCode>([
  'ERR_AUTHENTICATION',
  'ERR_BLACKLISTED',
  'ERR_NETWORK_MISMATCH',
  'ERR_ABORTED',
  'ERR_UNSUPPORTED_ADDRESS',
  'ERR_CONFIG',
  'ERR_CONNECTION_LIMIT',
])

/**
 * Errors that no retry can fix. Matched by code, not `instanceof`: transports
 * make these errors, and a plugin may carry its own copy of `@crust/core`.
 */
export function isPermanent(error: unknown): boolean {
  if (!isCrustError(error)) return false
  if (error.permanent === true) return true
  if (isCrustError(error, 'ERR_DIAL_FAILED')) return error.errors.length > 0 && error.errors.every((e) => isPermanent(e.error))
  return PERMANENT.has(error.code)
}

/** One spelling per address (IPv6 forms, zero-padding), so equal addresses compare equal. */
function canonicalAddress(address: string): string {
  const parsed = parseAddress(address)
  return parsed === undefined ? address : formatAddress(parsed.transport, normalizeIp(parsed.host), parsed.port)
}

/** The direct dial of a contact without addresses: no retry gives it one. */
function noAddresses(): DialError {
  return new DialError('no addresses to dial', [], { permanent: true })
}

/**
 * Check a contact before dialing: a malformed peer id, or addresses that are
 * not strings, can never connect, so they fail at once instead of after retries.
 */
function validateContact(peer: PeerContact): void {
  if (peer.peerId !== undefined && !isPeerId(peer.peerId)) {
    throw new ConfigError(`malformed peer id ${JSON.stringify(peer.peerId)}: expected one made by a Crust identity (e.g. from node.peerId)`)
  }
  if (!Array.isArray(peer.addresses) || !peer.addresses.every((address) => typeof address === 'string')) {
    throw new ConfigError('contact.addresses must be an array of address strings, e.g. ["tcp://127.0.0.1:4001"]')
  }
}

/** An authenticated, handshaken transport connection not yet in the pool. */
interface Secured {
  readonly transportConnection: TransportConnection
  readonly remote: HandshakeInfo
}

/** Every outbound connection the node makes. */
@injectable()
export class Dialer {
  /** This node's id in the handshake's dial tags, and its dial counter (see `chooseSurvivor`). */
  private readonly raceNode = randomBytes(8).toString('hex')
  private dialCount = 0
  private readonly dials = new Map<string, SharedDial>()

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Security) private readonly security: SecurityContext,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Blacklist) private readonly blacklist: Blacklist,
    @inject(Tokens.Pool) private readonly pool: ConnectionPool,
    @inject(Tokens.RunState) private readonly state: RunState,
    @inject(Tokens.Admission) private readonly admission: Admission,
    @inject(Tokens.TransportHost) private readonly transports: TransportHost,
    @inject(Tokens.Establisher) private readonly establisher: Establisher,
    @inject(Tokens.Traversal) private readonly traversal: Traversal,
    @inject(Tokens.Metrics) private readonly metrics: NodeMetrics,
  ) {}

  /**
   * Connect to a peer, reusing a pooled connection. Concurrent calls for the
   * same peer share one attempt; transient failures are retried with backoff.
   */
  async connect(peer: PeerContact, options: ConnectOptions = {}): Promise<Connection> {
    if (!this.state.running) throw new NotStartedError()
    validateContact(peer)
    if (peer.peerId !== undefined) {
      if (this.blacklist.blocksPeer(peer.peerId)) throw new BlacklistedError(`peer ${peer.peerId} is blacklisted`)
      const pooled = this.pool.get(peer.peerId)
      if (pooled && options.fresh !== true) return pooled
    } else {
      // Whoever answers at an address we already dialled is the peer we hold
      // a connection to there: reuse it rather than dial again (`crust ping tcp://…`).
      const pooled = this.pooledAt(peer.addresses, options.transport)
      if (pooled) return pooled
    }
    const key = `${options.fresh === true ? 'fresh ' : ''}${options.transport ?? '*'} ${peer.peerId ?? [...peer.addresses].sort().join(' ')}`
    let dial = this.dials.get(key)
    if (dial === undefined) {
      const controller = new AbortController()
      const promise = this.dialWithRetry(peer, options, controller.signal).finally(() => this.dials.delete(key))
      this.metrics.dialStarted()
      // Every caller hears of a failure through join(); the node tells it once, as `dial:failed`.
      promise.catch((error: unknown) => this.reportFailure(peer, error))
      dial = { promise, controller, callers: 0 }
      this.dials.set(key, dial)
    }
    return join(dial, options.signal)
  }

  /**
   * A pooled connection this node dialled directly at one of `addresses`
   * (on the `pinned` transport, if any). Only the address we dialled counts:
   * a peer's own claims could name an address it does not answer at.
   */
  private pooledAt(addresses: readonly string[], pinned: string | undefined): Connection | undefined {
    const wanted = new Set(addresses.map(canonicalAddress))
    return this.pool
      .all()
      .find(
        (connection) =>
          connection.direction === 'outbound' &&
          connection.method === 'direct' &&
          (pinned === undefined || connection.transport === pinned) &&
          wanted.has(canonicalAddress(connection.remoteAddress)),
      )
  }

  /**
   * Race connections to every candidate; the first to succeed is returned and
   * the other attempts are cancelled (and any that still succeed are closed).
   */
  async connectAny(peers: readonly PeerContact[], options: ConnectOptions = {}): Promise<Connection> {
    if (!this.state.running) throw new NotStartedError()
    const preexisting = new Set(this.pool.all())
    try {
      return await raceStaggered(peers, (peer, signal) => this.connect(peer, { ...options, signal }), {
        staggerMs: 0,
        signal: options.signal,
        dispose: (connection) => {
          if (!preexisting.has(connection)) void connection.close('connectAny: another candidate won')
        },
      })
    } catch (error) {
      if (error instanceof RaceFailedError) {
        const failures = (error as RaceFailedError<PeerContact>).failures
        throw new AllCandidatesFailedError(
          `none of ${peers.length} candidates could be reached`,
          failures.map((f) => ({ peerId: f.candidate.peerId, error: f.error })),
        )
      }
      throw error
    }
  }

  private async dialWithRetry(peer: PeerContact, options: ConnectOptions, signal: AbortSignal): Promise<Connection> {
    // A fresh dial must not settle for the suspect connection it is meant to replace.
    const suspect = options.fresh === true && peer.peerId !== undefined ? this.pool.get(peer.peerId) : undefined
    const attempt = () => this.dialOrTraverse(peer, options.transport, signal, suspect)
    if (options.retry === false) return attempt()
    try {
      return await retryWithBackoff(attempt, {
        ...this.config.retry,
        signal,
        shouldRetry: (error) => this.state.running && !isPermanent(error) && !(peer.peerId && this.pool.get(peer.peerId)),
        onRetry: (error, attempt, delay) => {
          this.logger.debug(`dial ${peer.peerId ?? peer.addresses.join(',')} failed (${asError(error).message}); retry ${attempt} in ${delay} ms`)
          this.events.emit('dial:retry', { peerId: peer.peerId, attempt, delay, error: asError(error) })
        },
      })
    } catch (error) {
      // A simultaneous open may have given us the peer through the other side's dial (not the suspect a fresh dial replaces).
      const pooled = peer.peerId ? this.pool.get(peer.peerId) : undefined
      if (pooled && pooled !== suspect) return pooled
      throw error
    }
  }

  /**
   * Dial directly and, for a known peer id, race NAT traversal against it:
   * the service connectors (hole punching, then relaying) start when the
   * direct dial fails for a reason traversal could fix, or after
   * `traversalDelay` if it is still trying (addresses behind a NAT often fail
   * only at the dial timeout). The first connection wins; the other attempt is
   * cancelled.
   */
  private async dialOrTraverse(peer: PeerContact, pinned: string | undefined, signal: AbortSignal, suspect?: Connection): Promise<Connection> {
    const peerId = peer.peerId
    if (peerId === undefined || pinned !== undefined || !this.traversal.available) return this.dialOnce(peer, pinned, signal)
    const controller = new AbortController()
    const onAbort = (): void => controller.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    let directError: Error | undefined
    const direct =
      peer.addresses.length === 0 ? Promise.reject(noAddresses()) : this.dialOnce(peer, undefined, controller.signal)
    const directSettled = direct.then(
      () => undefined,
      (error: unknown) => {
        directError = asError(error)
      },
    )
    // A permanent direct failure (the peer refused us, is blacklisted, ...)
    // rules traversal out too; having no address to dial does not.
    const rulesOutTraversal = (): boolean => peer.addresses.length > 0 && directError !== undefined && isPermanent(directError)
    const failures: DialFailure[] = []
    const traversal = (async () => {
      await Promise.race([directSettled, sleepUnlessAborted(this.config.connection.traversalDelay, controller.signal)])
      if (rulesOutTraversal()) throw directError
      return this.traversal.traverse(peerId, controller.signal, failures, undefined, (pooled) => pooled !== suspect)
    })()
    try {
      return await Promise.any([direct, traversal])
    } catch {
      const pooled = this.pool.get(peerId)
      if (pooled && pooled !== suspect) return pooled
      if (signal.aborted) throw new AbortError()
      if (rulesOutTraversal()) throw directError
      const all = [{ address: 'direct', error: directError ?? new DialError('direct dial failed') }, ...failures]
      throw new DialError(`could not connect to ${peerId}: ${all.map(describeFailure).join('; ')}`, all)
    } finally {
      signal.removeEventListener('abort', onAbort)
      controller.abort()
    }
  }

  private async dialOnce(peer: PeerContact, pinned: string | undefined, signal: AbortSignal | undefined, localPort?: number): Promise<Connection> {
    const { maxConnections, transportPreference, fallbackDelay, dialStagger } = this.config.connection
    if (!(peer.peerId !== undefined && this.pool.get(peer.peerId)) && !this.admission.hasRoom()) {
      throw new ConnectionLimitError(`already at the limit of ${maxConnections} connections and none can be pruned`, 'connection.maxConnections')
    }
    const usable = peer.addresses.filter((address) => this.transports.transportFor(address) !== undefined)
    if (usable.length === 0) {
      const first = peer.addresses[0]
      throw first === undefined ? noAddresses() : new UnsupportedAddressError(first)
    }
    const allowed = usable.filter((address) => !this.blacklist.blocksIp(normalizeIp(parseAddress(address)?.host ?? '')))
    if (allowed.length === 0) throw new BlacklistedError(`every address of ${peer.peerId ?? 'the peer'} is blacklisted`)
    const groups = groupByTransport(allowed, (address) => this.transports.transportFor(address)?.id, transportPreference, pinned)
    if (groups.length === 0) throw new UnsupportedAddressError(`${pinned}:// (the peer has no ${pinned} address)`)

    // Happy Eyeballs twice over: transports in preference order, each started
    // when the previous failed or is still connecting after `fallbackDelay`;
    // within a transport, addresses staggered by `dialStagger`.
    const groupErrors = new Map<string, Error>()
    const failures: DialFailure[] = []
    // Every attempt carries this dial's tag, so when two complete (TCP and QUIC racing) both ends keep the
    // same one: the late one is pooled too (see `secure` and `adopt`), and the tie-break retires the loser
    // on both ends (closing it here while the peer kept it would leave neither).
    const race = this.nextDial()
    let attempts = 0
    const redundant = (late: Secured): void => this.adopt(late, undefined, true)
    let secured: Secured
    try {
      secured = await raceStaggered(
        groups,
        async (group, groupSignal) => {
          try {
            return await raceStaggered(group.addresses, (address, s) => this.secure(address, peer.peerId, s, { localPort, race: `${race}.${attempts++}` }), {
              staggerMs: dialStagger,
              signal: groupSignal,
              dispose: redundant,
            })
          } catch (error) {
            const inner = error instanceof RaceFailedError ? (error as RaceFailedError<string>).failures : []
            for (const f of inner) failures.push({ address: f.candidate, error: f.error })
            const first = inner[0]?.error ?? asError(error)
            groupErrors.set(group.transport, first)
            throw first
          }
        },
        { staggerMs: fallbackDelay, signal, dispose: redundant },
      )
    } catch (error) {
      if (!(error instanceof RaceFailedError)) throw error
      const only = failures.length === 1 ? failures[0]?.error : undefined
      if (isCrustError(only) && only.code !== 'ERR_DIAL_FAILED') throw only
      throw new DialError(
        `could not connect to ${peer.peerId ?? 'peer'}: ${failures.map(describeFailure).join('; ')}`,
        failures,
      )
    }
    const connection = this.establisher.establish(secured.transportConnection, secured.remote)
    const preferred = groups[0]?.transport
    const used = secured.transportConnection.transport
    if (preferred !== undefined && used !== preferred && connection.transportConnection === secured.transportConnection) {
      const reason = fallbackReason(groupErrors.get(preferred))
      connection.setPath({ fallback: { from: preferred, reason } })
      this.logger.info(`connected to ${connection.peerId} over ${used}: ${preferred} ${reason}`)
      this.events.emit('connection:fallback', { connection, peerId: connection.peerId, from: preferred, to: used, reason })
    }
    return connection
  }

  /**
   * One direct dial on `transport` to `peer`'s addresses, shared with no
   * other caller (no retries, no connectors), even beside a pooled
   * connection: a kept peer's checks overlap, so one whose packets went
   * into a gap (a mapping being remade) never holds up the next.
   */
  dialDirect(
    peer: PeerContact & { readonly peerId: string },
    transport: string,
    signal: AbortSignal,
    options: { readonly ownSocket?: boolean } = {},
  ): Promise<Connection> {
    if (!this.state.running) return Promise.reject(new NotStartedError())
    if (this.blacklist.blocksPeer(peer.peerId)) return Promise.reject(new BlacklistedError(`peer ${peer.peerId} is blacklisted`))
    return this.dialOnce(peer, transport, signal, options.ownSocket === true ? 0 : undefined)
  }

  /**
   * For services: dial one address, authenticate, handshake and pool it (no
   * retries, no connectors). `method` tells the listener how the path was made.
   */
  async dialAddress(
    address: string,
    options: { peerId: string; method?: ConnectionMethod; signal?: AbortSignal; localPort?: number },
  ): Promise<Connection> {
    if (!this.state.running) throw new NotStartedError()
    if (this.blacklist.blocksPeer(options.peerId)) throw new BlacklistedError(`peer ${options.peerId} is blacklisted`)
    if (options.method !== undefined && !isConnectionMethod(options.method)) {
      throw new ConfigError(`malformed connection method ${JSON.stringify(options.method)}`)
    }
    const via = isDialerMethod(options.method) ? options.method : undefined
    const secured = await this.secure(address, options.peerId, options.signal ?? new AbortController().signal, {
      via,
      localPort: options.localPort,
      race: this.soleAttempt(),
    })
    return this.establisher.establish(secured.transportConnection, secured.remote, undefined, via)
  }

  /** For services: handshake a secured outbound connection they made (e.g. over a relay) and pool it. */
  async establishOutbound(
    connection: TransportConnection,
    options: { expectedPeerId: string; signal?: AbortSignal },
  ): Promise<Connection> {
    const fail = async (error: Error, code: number): Promise<never> => {
      await connection.close({ code, reason: error.message })
      throw error
    }
    if (!this.state.running) return fail(new NotStartedError(), CloseCode.SHUTDOWN)
    const peerId = connection.remotePeer.peerId
    if (peerId !== options.expectedPeerId) {
      return fail(new AuthenticationError(`expected peer ${options.expectedPeerId}, got ${peerId}`), CloseCode.AUTH_FAILED)
    }
    if (this.blacklist.blocksPeer(peerId)) return fail(new BlacklistedError(`peer ${peerId} is blacklisted`), CloseCode.BLACKLISTED)
    if (options.signal?.aborted) return fail(new AbortError(), CloseCode.NORMAL)
    this.admission.track(connection)
    const via = isDialerMethod(connection.method) ? connection.method : undefined
    // Past its HELLO the handshake runs to its end even if the caller gives up: see `secure`.
    const handshake = dialerHandshake(connection, { ...this.transports.handshakeOptions(), via, race: this.soleAttempt() }).then(
      (remote): Secured => ({ transportConnection: connection, remote }),
      (error: unknown) => {
        void connection.close({ code: CloseCode.PROTOCOL_ERROR, reason: asError(error).message })
        throw error
      },
    )
    const { remote } =
      options.signal === undefined ? await handshake : await unlessAbandoned(handshake, options.signal, this.adoptAbandoned(peerId, via))
    return this.establisher.establish(connection, remote, undefined, via)
  }

  /**
   * Dial one address, authenticate and handshake, all under the dial timeout.
   * `via`: how the path was made, when the dialer knows (told in the HELLO);
   * `localPort`: see `DialOptions.localPort`; `race`: the attempt's dial tag (see `nextDial`).
   *
   * `signal` cancels the attempt only until its HELLO goes out. From then on
   * the peer may pool it first and, by the tie-break, keep it in place of the
   * connection both ends had (seen in the NAT lab: a dial cancelled because a
   * rival attempt or traversal won, or because its caller gave up, left
   * neither end a connection until a redial). So a cancelled caller hears
   * `AbortError` at once, while the handshake runs on, bounded by the dial
   * timeout, and once WELCOMEd is pooled beside the connection we hold (the
   * same tie-break then settles the duplicate on both ends), or closed when we
   * hold none (see `adopt`).
   */
  private async secure(
    address: string,
    expectedPeerId: string | undefined,
    signal: AbortSignal,
    { via, localPort, race }: { readonly via?: ConnectionMethod; readonly localPort?: number; readonly race: string },
  ): Promise<Secured> {
    const transport = this.transports.transportFor(address)
    if (transport === undefined) throw new UnsupportedAddressError(address)
    const timeoutMs = this.config.connection.dialTimeout
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
    const onAbort = (): void => controller.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    let connection: TransportConnection | undefined
    const fail = (error: unknown): never => {
      const code = isCrustError(error, 'ERR_BLACKLISTED') ? CloseCode.BLACKLISTED : CloseCode.PROTOCOL_ERROR
      void connection?.close({ code, reason: asError(error).message })
      if (timedOut) throw new TimeoutError(`connecting to ${address} took longer than ${timeoutMs} ms`)
      if (controller.signal.aborted) throw new AbortError()
      throw error
    }
    try {
      connection = await transport.dial(address, { signal: controller.signal, expectedPeerId, ...(localPort === undefined ? {} : { localPort }) })
      const remotePeerId = connection.remotePeer.peerId
      if (remotePeerId === this.security.peerId) throw new DialError(`${address} is this node itself`)
      if (this.blacklist.blocksPeer(remotePeerId)) throw new BlacklistedError(`peer ${remotePeerId} is blacklisted`)
      this.admission.track(connection)
      if (controller.signal.aborted) throw new AbortError()
    } catch (error) {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      return fail(error)
    }
    // The HELLO goes out: only the dial timeout stops the attempt now.
    signal.removeEventListener('abort', onAbort)
    const dialled = connection
    const abortHandshake = (): void => void dialled.close({ code: CloseCode.NORMAL, reason: 'dial timed out' })
    controller.signal.addEventListener('abort', abortHandshake, { once: true })
    const handshake = (async (): Promise<Secured> => {
      try {
        const remote = await dialerHandshake(dialled, { ...this.transports.handshakeOptions(), target: address, via, race })
        // Timed out as the WELCOME arrived: the connection is closing already, never hand it on.
        if (controller.signal.aborted) throw new AbortError()
        return { transportConnection: dialled, remote }
      } catch (error) {
        return fail(error)
      } finally {
        clearTimeout(timer)
        controller.signal.removeEventListener('abort', abortHandshake)
      }
    })()
    return unlessAbandoned(handshake, signal, this.adoptAbandoned(dialled.remotePeer.peerId, via))
  }

  /**
   * What becomes of a handshake whose caller stopped waiting: called at that
   * moment, it notes whether a connection to the peer was pooled then. The
   * peer may pool the attempt and retire that connection for it before our
   * WELCOME arrives (the later dial wins the tie-break); the attempt is then
   * the connection both ends should keep, though none is pooled here by the
   * time it completes.
   */
  private adoptAbandoned(peerId: string, via: ConnectionMethod | undefined): () => (secured: Secured) => void {
    return () => {
      const held = this.pool.get(peerId) !== undefined
      return (secured) => this.adopt(secured, via, held)
    }
  }

  /**
   * Pool a raced attempt that completed after another won, or a handshake
   * whose caller stopped waiting (see `secure`) while a connection to the
   * peer is pooled, or was when the caller stopped (`keep` for both): the
   * peer may have put it in that one's place, and the tie-break keeps one
   * connection on both ends. An abandoned one beside no connection, then or
   * now, is closed (nobody wants it, and the peer keeps nothing else it could
   * have replaced), as is one the peer answered without its dial tag (an
   * older peer: it settles duplicates by another rule).
   */
  private adopt(secured: Secured, via: ConnectionMethod | undefined, keep: boolean): void {
    const { transportConnection, remote } = secured
    if (!this.state.running) {
      void transportConnection.close({ code: CloseCode.SHUTDOWN, reason: 'node stopping' })
      return
    }
    if (remote.race === undefined) {
      void transportConnection.close({ code: CloseCode.NORMAL, reason: 'redundant dial' })
      return
    }
    if (!keep && this.pool.get(transportConnection.remotePeer.peerId) === undefined) {
      void transportConnection.close({ code: CloseCode.NORMAL, reason: 'dial cancelled' })
      return
    }
    try {
      this.establisher.establish(transportConnection, remote, undefined, via)
    } catch {
      // No room: establish closed it.
    }
  }

  /**
   * A new dial's tag (`node.dial`; each attempt adds `.attempt`). Every
   * outbound connection carries one, services' dials too: two connections
   * of this node to one peer are then ordered alike on both ends (see
   * `chooseSurvivor`), where arrival order could differ between the ends.
   */
  private nextDial(): string {
    return `${this.raceNode}.${this.dialCount++}`
  }

  /** The tag of a new dial made of one attempt. */
  private soleAttempt(): string {
    return `${this.nextDial()}.0`
  }

  /** A shared dial failed for good: one `dial:failed` for all its callers. */
  private reportFailure(peer: PeerContact, failure: unknown): void {
    const error = asError(failure)
    this.events.emit('dial:failed', { peerId: peer.peerId, addresses: [...peer.addresses], code: errorCode(error), error })
  }

  /** Cancel every dial in flight (the node stops). */
  abortAll(): void {
    for (const dial of this.dials.values()) dial.controller.abort()
  }
}

/** One dial attempt shared by every concurrent `connect` to the same peer. */
interface SharedDial {
  readonly promise: Promise<Connection>
  readonly controller: AbortController
  /** Callers still waiting; when the last one aborts, the attempt is cancelled. */
  callers: number
}

/** Wait for a shared dial; a caller's abort cancels the dial only if no other caller still wants it. */
function join(dial: SharedDial, signal: AbortSignal | undefined): Promise<Connection> {
  if (signal?.aborted) return Promise.reject(new AbortError())
  dial.callers++
  return new Promise<Connection>((resolve, reject) => {
    let left = false
    const leave = (): void => {
      if (left) return
      left = true
      signal?.removeEventListener('abort', onAbort)
      dial.callers--
    }
    const onAbort = (): void => {
      leave()
      if (dial.callers === 0) dial.controller.abort()
      reject(new AbortError())
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    dial.promise.then(
      (value) => {
        leave()
        resolve(value)
      },
      (error: unknown) => {
        leave()
        reject(error)
      },
    )
  })
}
