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
import { isIP } from 'node:net'
import { StreamResetCode, TokenBucket, errorMessage, normalizeIp, parseAddress } from '@crust/core/plugin'
import { type NatMapping, natStatus } from '../status.js'
import { RateLimiter } from '../common/rate-limit.js'
import { behindSameNat, isLanPath, ownCandidates, quicAddress, screenCandidates } from './candidates.js'
import { HolePunchError } from './errors.js'
import { BirthdaySlots, type HardNatPlan, PortProber, ProbeSockets, hardNatPlan, predictPorts } from './hard-nat.js'
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
import { type PunchBudget, type PunchKind, Puncher, readPunchPacket } from './puncher.js'

/** An attempt in progress on this node, keyed by its id, to route the peer's punch packets. */
interface ActiveAttempt {
  onPunch(from: DatagramPeer, kind: PunchKind): void
}

/** The hard-NAT half of an attempt (`hard-nat.ts`): started with the punching, stopped with it. */
interface HardRun {
  /** Start; `onConnection` gets the connection this half made or saw arrive. */
  start(onConnection: (connection: ServiceConnection) => void): void
  stop(): void
  /** What it sent, for logs and errors. */
  describe(): string
  /** Packets it sent (probes, or one per probe socket). */
  packets(): number
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
  /** Hard-NAT probes sent (easy side) and probe sockets opened (hard side), for logs and tests. */
  readonly hardNat = { probes: 0, sockets: 0 }
  /** Node-wide budget of hard-NAT probes, all attempts together. */
  private readonly probeBudget: TokenBucket
  private readonly birthdays: BirthdaySlots
  /** Hard-NAT halves running now (stopped with the service). */
  private readonly runs = new Set<HardRun>()

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedHolePunchOptions,
  ) {
    this.limiter = new RateLimiter(options.ratePerMinute)
    this.punchBudget = new TokenBucket({ perSecond: options.punchRate, burst: options.punchBurst })
    // The burst lets one attempt's predicted ports go out at once.
    this.probeBudget = new TokenBucket({ perSecond: options.hardNatRate, burst: Math.min(options.hardNatRate, 128) })
    this.birthdays = new BirthdaySlots(options.maxBirthdayAttempts, new RateLimiter(options.birthdayPerMinute))
  }

  /** Birthday probing on: this node can play either side. */
  private get birthdayEnabled(): boolean {
    return this.options.birthdaySockets > 0 && this.options.birthdayProbes > 0 && this.options.maxBirthdayAttempts > 0
  }

  /** The bounds of one attempt's punching. */
  private budget(): PunchBudget {
    return { maxPackets: this.options.maxPunchPackets, maxLearned: this.options.maxLearnedTargets, shared: this.punchBudget }
  }

  /**
   * How long to punch: a birthday attempt's own budget; shorter when one NAT
   * maps per destination, or when the peer is behind our own NAT (LAN or
   * hairpin only).
   */
  private budgetFor(ours: NatMapping, theirs: NatMapping, targets: readonly DatagramPeer[], birthday: boolean): number {
    if (birthday) return this.options.hardNatTimeout
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
    for (const run of [...this.runs]) run.stop()
    this.active.clear()
  }

  // --- client side -------------------------------------------------------

  private async connectTo(target: string, signal: AbortSignal): Promise<ServiceConnection> {
    const endpoint = this.endpoint
    // Permanent: the node's transports do not change while it runs, so connect() stops retrying.
    if (endpoint === undefined) throw new HolePunchError('refused', 'hole punching needs the QUIC transport', { permanent: true })
    await endpoint.open()
    const attempt = randomBytes(16).toString('hex')
    const nat = natStatus(this.components.traversal())
    const mapping = nat.mapping
    // Upgrading a relayed connection: a birthday attempt (seconds, hundreds of packets) is worth a slot.
    const relayed = this.components.connection(target)?.method === 'relayed'
    const release = relayed && mapping !== 'unknown' && this.birthdayEnabled ? this.birthdays.reserve(target) : undefined
    try {
      const connect: ConnectFrame = {
        type: 'connect',
        target,
        attempt,
        candidates: ownCandidates(this.components, this.options.allowLoopback),
        mapping,
        ...hardFields(mapping, nat.mappedPorts),
        ...(release === undefined ? {} : { upgrade: true }),
      }
      const answer = await this.introduction(connect, signal)
      if (mapping === 'endpoint-dependent' && answer.mapping === 'endpoint-dependent') {
        throw new HolePunchError('symmetric', 'both NATs map each destination to a new port: punching cannot work, a relay can')
      }
      const { targets, rejected } = this.screen(answer.candidates)
      if (targets.length === 0) {
        throw new HolePunchError('bad-candidates', `no usable candidate for ${shortPeerId(target)}: ${describe(rejected)}`)
      }
      const plan = this.plan(mapping, answer.mapping, nat.mappedPorts, answer.ports, answer.seenAt)
      const birthday = release !== undefined && answer.birthday === true && plan !== undefined && this.canBirthday(plan, targets, answer.seenAt)
      if (!birthday) release?.()
      if (plan !== undefined && !plan.predict && !birthday) {
        throw new HolePunchError(
          'symmetric',
          `${plan.role === 'hard' ? 'our' : 'the peer’s'} NAT maps each destination to a random port: relayed first, birthday probing then upgrades the relayed connection`,
        )
      }
      const budget = this.budgetFor(mapping, answer.mapping, targets, birthday)
      const run = plan === undefined ? undefined : this.hardRun(endpoint, plan, birthday, target, attempt, targets, answer.seenAt, answer.ports)
      return await this.punchAndDial(endpoint, target, attempt, targets, budget, signal, run)
    } finally {
      release?.()
    }
  }

  /**
   * The hard-NAT plan of a pair (`hard-nat.ts`), from both mappings and the
   * hard side's STUN ports. The easy side needs the IP the rendezvous saw
   * the hard side at (`seenAt`): probes go nowhere else.
   */
  private plan(
    own: NatMapping,
    remote: NatMapping,
    ownPorts: readonly number[] | undefined,
    remotePorts: readonly number[] | undefined,
    seenAt: string | undefined,
  ): HardNatPlan | undefined {
    const plan = hardNatPlan(own, remote, own === 'endpoint-dependent' ? ownPorts : remotePorts)
    if (plan?.role === 'easy' && seenAt === undefined) return undefined
    return plan
  }

  /** This node can play its side of a birthday attempt: the budget allows it, and it knows where to aim. */
  private canBirthday(plan: HardNatPlan, targets: readonly DatagramPeer[], seenAt: string | undefined): boolean {
    if (seenAt === undefined) return false
    return plan.role === 'easy' ? this.options.birthdayProbes > 0 : this.options.birthdaySockets > 0 && easyTarget(targets, seenAt) !== undefined
  }

  /**
   * The hard-NAT half of an attempt. Easy side: probe the predicted ports,
   * then (birthday) random ones, of the IP the rendezvous saw the peer at,
   * until a punched connection to it is up. Hard side, birthday: probe
   * sockets toward the easy side's mapping; the one reached dials the peer
   * from its port. (Hard side, prediction: the ordinary punching suffices.)
   */
  private hardRun(...args: Parameters<HolePunchService['makeHardRun']>): HardRun {
    const run = this.makeHardRun(...args)
    let stopped = false
    const tracked: HardRun = {
      start: (onConnection) => {
        this.runs.add(tracked)
        run.start(onConnection)
      },
      stop: () => {
        this.runs.delete(tracked)
        if (stopped) return
        stopped = true
        run.stop()
      },
      describe: () => run.describe(),
      packets: () => run.packets(),
    }
    return tracked
  }

  private makeHardRun(
    endpoint: DatagramEndpoint,
    plan: HardNatPlan,
    birthday: boolean,
    peer: string,
    attempt: string,
    targets: readonly DatagramPeer[],
    seenAt: string | undefined,
    remotePorts: readonly number[] | undefined,
  ): HardRun {
    const punched = (): ServiceConnection | undefined => {
      const connection = this.components.connection(peer)
      return connection?.method === 'punched' ? connection : undefined
    }
    if (plan.role === 'easy' && seenAt !== undefined) {
      const seen = targets.filter((target) => target.host === seenAt).map((target) => target.port)
      const predicted = plan.predict ? predictPorts(remotePorts ?? [], seen) : []
      const budget = { probes: this.options.birthdayProbes, probeRate: this.options.birthdayProbeRate, shared: this.probeBudget }
      const prober = new PortProber(endpoint, attempt, seenAt, predicted, birthday, budget, () => punched() !== undefined)
      let poll: NodeJS.Timeout | undefined
      return {
        start: (onConnection) => {
          prober.start()
          if (!birthday) return
          // The hard side dials us from the probe socket we reach: wait for its connection.
          poll = setInterval(() => {
            const connection = punched()
            if (connection !== undefined) onConnection(connection)
          }, 25)
          poll.unref()
        },
        stop: () => {
          prober.stop()
          clearInterval(poll)
          this.hardNat.probes += prober.sent
        },
        describe: () => `${prober.sent} probes${predicted.length > 0 ? ` (${predicted.length} predicted)` : ''}`,
        packets: () => prober.sent,
      }
    }
    const easy = seenAt === undefined ? undefined : easyTarget(targets, seenAt)
    if (plan.role !== 'hard' || !birthday || easy === undefined) {
      // Prediction, hard side: the ordinary punching from the node's socket makes the predicted mapping.
      return { start: () => {}, stop: () => {}, describe: () => 'punches from the node socket', packets: () => 0 }
    }
    const controller = new AbortController()
    let sockets: ProbeSockets | undefined
    return {
      start: (onConnection) => {
        sockets = new ProbeSockets(
          attempt,
          easy,
          this.options.birthdaySockets,
          (localPort) => {
            this.components
              .dial(quicAddress(easy), { peerId: peer, method: 'punched', localPort, signal: controller.signal })
              .then(onConnection)
              .catch((error: unknown) => this.components.logger.debug(`holepunch: dial from probe port ${localPort} failed: ${errorMessage(error)}`))
          },
          (message) => this.components.logger.debug(`holepunch: ${message}`),
        ).start()
      },
      stop: () => {
        controller.abort()
        if (sockets === undefined) return
        this.hardNat.sockets += sockets.opened
        void sockets.close()
      },
      describe: () => `${sockets?.opened ?? 0} probe sockets`,
      packets: () => sockets?.sent ?? 0,
    }
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
    run?: HardRun,
  ): Promise<ServiceConnection> {
    const controller = new AbortController()
    const puncher = this.track(new Puncher(endpoint, attempt, targets, budget, this.budget()).start())
    const started = performance.now()
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
        run?.stop()
        if (run !== undefined) this.reportHard(target, run, connection !== undefined, puncher.sent, started)
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
        const hard = run === undefined ? '' : `, ${run.describe()}`
        const error = new HolePunchError('timeout', `no path to ${shortPeerId(target)} opened within ${budget} ms (${puncher.sent} punches to ${dialled.size} addresses${hard})`)
        finish(undefined, error)
      }, budget)
      const onAbort = (): void => finish(undefined, new AbortError())
      signal.addEventListener('abort', onAbort, { once: true })
      this.active.set(attempt, {
        onPunch: (from, kind) => {
          // A probe socket serves no QUIC: its owner dials us from there (see HardRun).
          if (kind !== 'node') return
          if (screenCandidates([quicAddress(from)], { allowLoopback: this.options.allowLoopback }).targets.length === 0) return
          // Learned targets are bounded by the puncher; a spoofed source gets neither punches nor dials beyond that.
          if (puncher.add(from)) {
            puncher.nudge(from)
            dial(from)
          }
        },
      })
      if (signal.aborted) onAbort()
      run?.start((connection) => finish(connection))
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
      ...(connect.ports === undefined ? {} : { ports: connect.ports }),
      ...(connect.upgrade === undefined ? {} : { upgrade: connect.upgrade }),
      // Only where hard-NAT punching may follow: peers of older versions refuse unknown fields.
      ...(connect.mapping === 'endpoint-dependent' || connect.upgrade === true ? seenAtOf(from) : {}),
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
    const hard = connect.mapping === 'endpoint-dependent' || answer.mapping === 'endpoint-dependent'
    await writeFrame(stream, { ...answer, candidates: withObserved(target, answer.candidates), ...(hard ? seenAtOf(target) : {}) }, true)
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
    const nat = natStatus(this.components.traversal())
    const mapping = nat.mapping
    const answer: AnswerFrame = {
      type: 'answer',
      candidates: ownCandidates(this.components, this.options.allowLoopback),
      mapping,
      ...hardFields(mapping, nat.mappedPorts),
    }
    if (mapping === 'endpoint-dependent' && offer.mapping === 'endpoint-dependent') {
      // Tell the asker our mapping so it gives up at once and relays; no punching for nothing.
      await writeFrame(stream, answer, true)
      return
    }
    const plan = this.plan(mapping, offer.mapping, nat.mappedPorts, offer.ports, offer.seenAt)
    // A birthday attempt only when the asker upgrades a relayed connection, and within our own bounds.
    // The asker says it upgrades a relayed connection: only believed when we hold one to it.
    const upgrading = offer.upgrade === true && this.components.connection(offer.from)?.method === 'relayed'
    const release = plan !== undefined && upgrading && this.canBirthday(plan, targets, offer.seenAt) ? this.birthdays.reserve(offer.from) : undefined
    const birthday = release !== undefined
    if (plan !== undefined && !plan.predict && !birthday) {
      // Random ports and no birthday attempt: the asker relays at once (its side of the same rule).
      await writeFrame(stream, answer, true)
      return
    }
    const budget = this.budgetFor(mapping, offer.mapping, targets, birthday)
    // Punch before answering, so our NAT is open by the time the asker's QUIC handshake arrives.
    const puncher = this.track(new Puncher(endpoint, offer.attempt, targets, budget, this.budget()).start())
    this.active.set(offer.attempt, {
      onPunch: (from, kind) => {
        if (kind !== 'node') return
        if (screenCandidates([quicAddress(from)], { allowLoopback: this.options.allowLoopback }).targets.length === 0) return
        if (puncher.add(from)) puncher.nudge(from)
      },
    })
    const run = plan === undefined ? undefined : this.hardRun(endpoint, plan, birthday, offer.from, offer.attempt, targets, offer.seenAt, offer.ports)
    let finished = false
    const started = performance.now()
    const finish = (connection?: ServiceConnection): void => {
      if (finished) return
      finished = true
      clearTimeout(done)
      this.untrack(puncher)
      if (run !== undefined) {
        run.stop()
        this.reportHard(offer.from, run, connection !== undefined || this.components.connection(offer.from)?.method === 'punched', puncher.sent, started)
      }
      release?.()
      this.active.delete(offer.attempt)
    }
    const done = setTimeout(() => finish(), budget)
    done.unref()
    run?.start(finish)
    await writeFrame(stream, { ...answer, ...(birthday ? { birthday: true } : {}) }, true)
  }

  /** Tell the user how a hard-NAT attempt went and what it cost (`service:event` type `hard-nat`). */
  private reportHard(peer: string, run: HardRun, punched: boolean, punches: number, started: number): void {
    const ms = Math.round(performance.now() - started)
    const outcome = punched ? `punched in ${ms} ms` : `no direct path after ${ms} ms`
    this.components.notify({
      service: 'holepunch',
      type: 'hard-nat',
      peerId: peer,
      message: `hard-NAT punching with ${shortPeerId(peer)}: ${outcome}; sent ${punches + run.packets()} packets (${punches} punches, ${run.describe()})`,
    })
  }

  private receivePunch(data: Uint8Array, from: DatagramPeer): void {
    const punch = readPunchPacket(data)
    if (punch === undefined) return // not ours (STUN, other plugins)
    const active = this.active.get(punch.attempt)
    if (active === undefined) {
      this.ignoredPunches++
      return
    }
    active.onPunch(from, punch.kind)
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

/** The hard-NAT fields a side sends about itself: its STUN ports, when its NAT maps per destination. */
function hardFields(mapping: NatMapping, ports: readonly number[] | undefined): { ports?: number[] } {
  return mapping === 'endpoint-dependent' && ports !== undefined && ports.length > 0 ? { ports: ports.slice(0, 4) } : {}
}

/** Where the rendezvous sees `connection`'s peer (its NAT's public IP), for the other side's hard-NAT probes. */
function seenAtOf(connection: ServiceConnection): { seenAt?: string } {
  const host = parseAddress(connection.remoteAddress)?.host
  return host === undefined || isIP(normalizeIp(host)) === 0 ? {} : { seenAt: normalizeIp(host) }
}

/** The easy side's mapping among its candidates: the first one at the IP the rendezvous saw it at. */
function easyTarget(targets: readonly DatagramPeer[], seenAt: string): DatagramPeer | undefined {
  return targets.find((target) => target.host === seenAt)
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
