import { randomBytes } from 'node:crypto'
import {
  AbortError,
  type ServiceConnection,
  type Connector,
  type DatagramEndpoint,
  type DatagramPeer,
  type ServiceStream,
  type Service,
  type ServiceComponents,
  isCrustError,
  shortPeerId,
} from '@crust/core'
import { StreamResetCode, TokenBucket, errorMessage } from '@crust/core/plugin'
import { type NatMapping, natStatus } from '../status.js'
import { RateLimiter } from '../common/rate-limit.js'
import { behindSameNat, isLanPath, ownCandidates, quicAddress, screenCandidates } from './candidates.js'
import { HolePunchError } from './errors.js'
import {
  type AnswerFrame,
  type ConnectFrame,
  type ErrorFrame,
  HOLE_PUNCH_PROTOCOL,
  type OfferFrame,
  expectFrame,
  readFrame,
  writeFrame,
} from './messages.js'
import type { ResolvedHolePunchOptions } from './options.js'
import { type PunchBudget, Puncher, readPunch } from './puncher.js'

/** An attempt in progress on this node, keyed by its id, to route the peer's punch packets. */
interface ActiveAttempt {
  onPunch(from: DatagramPeer): void
}

/**
 * UDP hole punching through a rendezvous peer. As a client, its connector
 * asks a connected peer to introduce it to the target, punches from the
 * node's shared QUIC socket towards the target's candidates and dials QUIC
 * over the opened path. As a target it punches back when introduced; as a
 * rendezvous it relays both sides' candidates.
 */
export class HolePunchService implements Service {
  readonly id = 'holepunch'
  readonly connector: Connector = {
    priority: 10,
    connect: (peerId, { signal }) => this.connectTo(peerId, signal),
  }
  private endpoint: DatagramEndpoint | undefined
  private readonly active = new Map<string, ActiveAttempt>()
  private readonly punchers = new Set<Puncher>()
  private readonly limiter: RateLimiter
  /** Node-wide budget of punch packets, all attempts together. */
  private readonly punchBudget: TokenBucket
  private readonly cleanups: Array<() => void> = []
  /**
   * Rendezvous in use, kept connected by the node (released when the service
   * stops): the configured ones, and the latest `maxRendezvous` that
   * introduced us (either way). Without its rendezvous a node cannot be
   * punched to, and a lost link is otherwise never redialled.
   */
  private readonly keptRendezvous = new Map<string, () => void>()
  private running = false
  /** Connections whose peer refused our protocol (it runs no hole punching): not asked to introduce again. */
  private readonly notRendezvous = new WeakSet<ServiceConnection>()
  /** Punch packets that matched no attempt of ours (strangers, stale attempts). */
  ignoredPunches = 0

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedHolePunchOptions,
  ) {
    this.limiter = new RateLimiter(options.ratePerMinute)
    this.punchBudget = new TokenBucket({ perSecond: options.punchRate, burst: options.punchBurst })
  }

  /** The bounds of one attempt's punching. */
  private budget(): PunchBudget {
    return { maxPackets: this.options.maxPunchPackets, maxLearned: this.options.maxLearnedTargets, shared: this.punchBudget }
  }

  /** How long to punch: shorter when one NAT maps per destination, or when the peer is behind our own NAT (LAN or hairpin only). */
  private budgetFor(ours: NatMapping, theirs: NatMapping, targets: readonly DatagramPeer[]): number {
    const hard = ours === 'endpoint-dependent' || theirs === 'endpoint-dependent'
    const budget = hard ? this.options.endpointDependentTimeout : this.options.punchTimeout
    return behindSameNat(natStatus(this.components.traversal()), targets) ? Math.min(budget, this.options.sameNatTimeout) : budget
  }

  /** Screen a remote's candidates and keep the first `maxPunchTargets` (the rendezvous' observation comes first). */
  private screen(candidates: readonly string[]): ReturnType<typeof screenCandidates> {
    const screened = screenCandidates(candidates, { allowLoopback: this.options.allowLoopback })
    const kept = screened.targets.slice(0, this.options.maxPunchTargets)
    const dropped = screened.targets.slice(kept.length).map((t) => ({ address: quicAddress(t), reason: 'too-many' as const }))
    return { targets: kept, rejected: [...screened.rejected, ...dropped] }
  }

  async start(): Promise<void> {
    this.endpoint = this.components.datagrams('quic')
    if (this.endpoint === undefined) {
      this.components.logger.info('holepunch: no QUIC transport with a datagram socket; punching is off (rendezvous still served)')
    } else {
      await this.endpoint.open()
      this.cleanups.push(this.endpoint.onForeignDatagram((data, from) => this.receivePunch(data, from)))
    }
    this.cleanups.push(this.components.handleProtocol(HOLE_PUNCH_PROTOCOL, (stream, connection) => void this.serve(stream, connection)))
    this.running = true
    for (const contact of this.options.rendezvousPeers) {
      this.cleanups.push(this.components.keep(contact.peerId, contact.addresses))
    }
  }

  async stop(): Promise<void> {
    this.running = false
    for (const release of this.keptRendezvous.values()) release()
    this.keptRendezvous.clear()
    for (const cleanup of this.cleanups.splice(0)) cleanup()
    for (const puncher of this.punchers) puncher.stop()
    this.punchers.clear()
    this.active.clear()
  }

  // --- client side -------------------------------------------------------

  private async connectTo(target: string, signal: AbortSignal): Promise<ServiceConnection> {
    const endpoint = this.endpoint
    // Permanent: the node's transports do not change while it runs, so connect() stops retrying.
    if (endpoint === undefined) throw new HolePunchError('refused', 'hole punching needs the QUIC transport', { permanent: true })
    await endpoint.open()
    const attempt = randomBytes(16).toString('hex')
    const mapping = natStatus(this.components.traversal()).mapping
    const connect: ConnectFrame = {
      type: 'connect',
      target,
      attempt,
      candidates: ownCandidates(this.components, this.options.allowLoopback),
      mapping,
    }
    const answer = await this.introduction(connect, signal)
    if (mapping === 'endpoint-dependent' && answer.mapping === 'endpoint-dependent') {
      throw new HolePunchError('symmetric', 'both NATs map each destination to a new port: punching cannot work, a relay can')
    }
    const { targets, rejected } = this.screen(answer.candidates)
    if (targets.length === 0) {
      throw new HolePunchError('bad-candidates', `no usable candidate for ${shortPeerId(target)}: ${describe(rejected)}`)
    }
    const budget = this.budgetFor(mapping, answer.mapping, targets)
    return this.punchAndDial(endpoint, target, attempt, targets, budget, signal)
  }

  /**
   * Keep the rendezvous behind `connection` connected (the latest
   * `maxRendezvous` of them; configured ones are kept anyway). Its addresses:
   * what it claims, and where we reached it directly.
   */
  private keepRendezvous(connection: ServiceConnection): void {
    const peerId = connection.peerId
    if (!this.running || connection.method === 'relayed' || connection.remoteRole !== 'node') return
    if (this.options.rendezvousPeers.some((contact) => contact.peerId === peerId)) return
    const held = this.keptRendezvous.get(peerId)
    this.keptRendezvous.delete(peerId) // re-inserted below: the most recent last
    const reached = connection.direction === 'outbound' && connection.method === 'direct' ? [connection.remoteAddress] : []
    this.keptRendezvous.set(peerId, held ?? this.components.keep(peerId, [...this.components.claimedAddresses(connection), ...reached]))
    for (const [oldest, release] of this.keptRendezvous) {
      if (this.keptRendezvous.size <= this.options.maxRendezvous) break
      release()
      this.keptRendezvous.delete(oldest)
    }
  }

  /**
   * Ask connected peers in turn to introduce us to the target; the first
   * answer wins. Configured rendezvous first, then those that introduced us
   * before (a peer that never did may be silent: a dead path would hold the
   * attempt until `rendezvousTimeout`); peers that refused the protocol are skipped.
   */
  private async introduction(connect: ConnectFrame, signal: AbortSignal): Promise<AnswerFrame> {
    const configured = new Set(this.options.rendezvousPeers.map((contact) => contact.peerId))
    const rank = (peerId: string): number => (configured.has(peerId) ? 0 : this.keptRendezvous.has(peerId) ? 1 : 2)
    const rendezvous = this.components
      .connections()
      .filter((connection) => connection.peerId !== connect.target && connection.remoteRole === 'node' && !this.notRendezvous.has(connection))
      .sort((a, b) => rank(a.peerId) - rank(b.peerId))
      .slice(0, this.options.maxRendezvous)
    // Permanent for this connect(): retrying would ask the same (no) connections again.
    if (rendezvous.length === 0) throw new HolePunchError('no-rendezvous', 'no connected peer can act as rendezvous', { permanent: true })
    const failures: string[] = []
    let last: HolePunchError | undefined
    for (const connection of rendezvous) {
      if (signal.aborted) throw new AbortError()
      try {
        const stream = await connection.openProtocolStream(HOLE_PUNCH_PROTOCOL, { signal })
        await writeFrame(stream, connect)
        const answer = expectFrame(await readFrame(stream, this.options.rendezvousTimeout), 'answer')
        await stream.end().catch(() => {})
        this.keepRendezvous(connection)
        return answer
      } catch (error) {
        if (servesNoHolePunching(error)) this.notRendezvous.add(connection)
        last = error instanceof HolePunchError ? error : new HolePunchError('refused', String(error))
        failures.push(`${shortPeerId(connection.peerId)}: ${last.message}`)
      }
    }
    const reason = last?.reason === 'not-connected' || last === undefined ? 'not-connected' : last.reason
    throw new HolePunchError(reason, `no rendezvous could introduce us to ${shortPeerId(connect.target)} (${failures.join('; ')})`)
  }

  /**
   * Punch towards every candidate and dial QUIC to each at once; a punch
   * packet from the peer reveals a working path (its NAT's real mapping),
   * which is punched and dialled too. First handshake wins; the rest are cancelled.
   */
  private punchAndDial(
    endpoint: DatagramEndpoint,
    target: string,
    attempt: string,
    targets: readonly DatagramPeer[],
    budget: number,
    signal: AbortSignal,
  ): Promise<ServiceConnection> {
    const controller = new AbortController()
    const puncher = this.track(new Puncher(endpoint, attempt, targets, budget, this.budget()).start())
    return new Promise<ServiceConnection>((resolve, reject) => {
      const dialled = new Set<string>()
      let settled = false
      const finish = (connection: ServiceConnection | undefined, error?: Error): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        controller.abort()
        this.untrack(puncher)
        this.active.delete(attempt)
        if (connection !== undefined) resolve(connection)
        else reject(error)
      }
      const dial = (peer: DatagramPeer): void => {
        const address = quicAddress(peer)
        if (settled || dialled.has(address)) return
        dialled.add(address)
        this.components
          // A LAN address on our own subnet crosses no NAT: that path is direct (both ends then say so).
          .dial(address, { peerId: target, method: isLanPath(peer) ? 'direct' : 'punched', signal: controller.signal })
          .then((connection) => finish(connection))
          .catch((error: unknown) => {
            this.components.logger.debug(`holepunch: dial ${address} failed: ${errorMessage(error)}`)
          })
      }
      const timer = setTimeout(() => {
        const error = new HolePunchError('timeout', `no path to ${shortPeerId(target)} opened within ${budget} ms (${puncher.sent} punches to ${dialled.size} addresses)`)
        finish(undefined, error)
      }, budget)
      const onAbort = (): void => finish(undefined, new AbortError())
      signal.addEventListener('abort', onAbort, { once: true })
      this.active.set(attempt, {
        onPunch: (from) => {
          if (screenCandidates([quicAddress(from)], { allowLoopback: this.options.allowLoopback }).targets.length === 0) return
          // Learned targets are bounded by the puncher; a spoofed source gets neither punches nor dials beyond that.
          if (puncher.add(from)) dial(from)
        },
      })
      if (signal.aborted) onAbort()
      for (const peer of targets) dial(peer)
    })
  }

  // --- server sides ------------------------------------------------------

  /** A peer opened our protocol: a rendezvous request (`connect`) or an introduction (`offer`). */
  private async serve(stream: ServiceStream, connection: ServiceConnection): Promise<void> {
    try {
      const frame = await readFrame(stream, this.options.rendezvousTimeout)
      if (frame.type === 'connect') await this.introduce(stream, connection, frame)
      else if (frame.type === 'offer') await this.answerOffer(stream, connection, frame)
      else await refuse(stream, 'bad-message', `unexpected '${frame.type}' frame`)
    } catch (error) {
      this.components.logger.debug(`holepunch: ${shortPeerId(connection.peerId)}: ${errorMessage(error)}`)
      if (error instanceof HolePunchError && error.reason === 'bad-message') await refuse(stream, 'bad-message', error.message)
      else stream.reset()
    }
  }

  /** Rendezvous: forward `from`'s candidates to the target and the target's answer back. */
  private async introduce(stream: ServiceStream, from: ServiceConnection, connect: ConnectFrame): Promise<void> {
    if (!this.options.rendezvous) return refuse(stream, 'refused', 'this node does not act as rendezvous')
    if (!this.limiter.take(`introduce ${from.peerId}`)) return refuse(stream, 'rate-limited', 'too many introductions; try later')
    if (connect.target === from.peerId) return refuse(stream, 'self', 'cannot introduce a peer to itself')
    const target = this.components.connection(connect.target)
    if (target === undefined) return refuse(stream, 'not-connected', `not connected to ${shortPeerId(connect.target)}`)
    const offer: OfferFrame = {
      type: 'offer',
      from: from.peerId, // vouched for: the authenticated peer that asked, whatever it claims
      attempt: connect.attempt,
      candidates: withObserved(from, connect.candidates),
      mapping: connect.mapping,
    }
    let answer: AnswerFrame
    try {
      const forward = await target.openProtocolStream(HOLE_PUNCH_PROTOCOL)
      await writeFrame(forward, offer)
      answer = expectFrame(await readFrame(forward, this.options.rendezvousTimeout), 'answer')
      await forward.end().catch(() => {})
    } catch (error) {
      const reason = error instanceof HolePunchError ? forwardable(error.reason) : 'refused'
      return refuse(stream, reason, `the target did not answer: ${errorMessage(error)}`)
    }
    await writeFrame(stream, { ...answer, candidates: withObserved(target, answer.candidates) }, true)
  }

  /** Target: punch back towards the peer that asked, and tell it where to find us. */
  private async answerOffer(stream: ServiceStream, rendezvous: ServiceConnection, offer: OfferFrame): Promise<void> {
    const endpoint = this.endpoint
    if (endpoint === undefined) return refuse(stream, 'refused', 'this node has no QUIC socket to punch from')
    if (!this.limiter.take(`offer via ${rendezvous.peerId}`) || !this.limiter.take(`offer from ${offer.from}`)) {
      return refuse(stream, 'rate-limited', 'too many introductions; try later')
    }
    if (this.punchers.size >= this.options.maxConcurrent) return refuse(stream, 'rate-limited', 'too many punches in progress')
    if (this.components.isBlacklisted({ peerId: offer.from })) return refuse(stream, 'refused', 'refused')
    // The attempt id is the remote's choice: it must not take over an attempt in progress (ours or another's).
    if (this.active.has(offer.attempt)) return refuse(stream, 'refused', 'attempt id already in use')
    const { targets, rejected } = this.screen(offer.candidates)
    if (targets.length === 0) return refuse(stream, 'bad-candidates', `no usable candidate: ${describe(rejected)}`)
    // This rendezvous introduces peers to us: stay connected to it, so they still can after a loss.
    this.keepRendezvous(rendezvous)
    const mapping = natStatus(this.components.traversal()).mapping
    if (mapping === 'endpoint-dependent' && offer.mapping === 'endpoint-dependent') {
      // Tell the asker our mapping so it gives up at once and relays; no punching for nothing.
      await writeFrame(stream, { type: 'answer', candidates: ownCandidates(this.components, this.options.allowLoopback), mapping }, true)
      return
    }
    const budget = this.budgetFor(mapping, offer.mapping, targets)
    // Punch before answering, so our NAT is open by the time the asker's QUIC handshake arrives.
    const puncher = this.track(new Puncher(endpoint, offer.attempt, targets, budget, this.budget()).start())
    this.active.set(offer.attempt, {
      onPunch: (from) => {
        if (screenCandidates([quicAddress(from)], { allowLoopback: this.options.allowLoopback }).targets.length > 0) puncher.add(from)
      },
    })
    const done = setTimeout(() => {
      this.untrack(puncher)
      this.active.delete(offer.attempt)
    }, budget)
    done.unref()
    await writeFrame(stream, { type: 'answer', candidates: ownCandidates(this.components, this.options.allowLoopback), mapping }, true)
  }

  private receivePunch(data: Uint8Array, from: DatagramPeer): void {
    const attempt = readPunch(data)
    if (attempt === undefined) return // not ours (STUN, other plugins)
    const active = this.active.get(attempt)
    if (active === undefined) {
      this.ignoredPunches++
      return
    }
    active.onPunch(from)
  }

  private track(puncher: Puncher): Puncher {
    this.punchers.add(puncher)
    return puncher
  }

  private untrack(puncher: Puncher): void {
    puncher.stop()
    this.punchers.delete(puncher)
  }
}

/** The peer reset our stream as an unknown protocol: it runs no hole punching service. */
function servesNoHolePunching(error: unknown): boolean {
  const cause = error instanceof HolePunchError ? error.cause : undefined
  return isCrustError(cause, 'ERR_STREAM_RESET') && cause.remote && cause.resetCode === StreamResetCode.REFUSED
}

/** Put where `connection`'s peer is seen (QUIC only: that is its socket's real mapping) first. */
function withObserved(connection: ServiceConnection, candidates: readonly string[]): string[] {
  const observed = connection.transport === 'quic' ? connection.remoteAddress : undefined
  return [...new Set([...(observed === undefined ? [] : [observed]), ...candidates])].slice(0, 16)
}

/** Answer with a typed refusal and end the stream. */
function refuse(stream: ServiceStream, reason: ErrorFrame['reason'], message: string): Promise<void> {
  return writeFrame(stream, { type: 'error', reason, message }, true).catch(() => stream.reset())
}

/** The reasons an `error` frame may carry; the others only exist locally. */
function forwardable(reason: HolePunchError['reason']): ErrorFrame['reason'] {
  return reason === 'symmetric' || reason === 'no-rendezvous' ? 'refused' : reason
}

function describe(rejected: ReadonlyArray<{ address: string; reason: string }>): string {
  return rejected.length === 0 ? 'none offered' : rejected.map((r) => `${r.address} (${r.reason})`).join(', ')
}
