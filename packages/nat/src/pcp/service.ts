import { createHash } from 'node:crypto'
import type { Logger, Service, ServiceComponents } from '@crust/core'
import { formatAddress } from '@crust/core/plugin'
import { EarlyGatewayCheck, mappingCandidates } from '../common/port-mapping.js'
import type { RemoteInfo } from 'node:dgram'
import { type MulticastListener, listenMulticast } from '../common/multicast-listener.js'
import { type PcpStatus, type PortMapping, natStatus, pcpReport } from '../status.js'
import { localAddressTowards } from '../upnp/discovery.js'
import { renewDelay } from '../upnp/schedule.js'
import { type MappingTarget, mappingTargets } from '../upnp/targets.js'
import { type PortControlProtocol, PortControlClient } from './client.js'
import { PcpError } from './errors.js'
import { type ResolvedPcpOptions, retransmitSchedule } from './options.js'
import { ANNOUNCE_GROUP, ANNOUNCE_PORT, NONCE_BYTES, SERVER_PORT, isAnnouncement } from './packets.js'
import { defaultGateway } from './gateway.js'

/** Least time between two checks of the gateway asked for by an announcement or a silent path (ms). */
const EARLY_CHECK_INTERVAL = 1_000

/** A mapping the gateway holds for us. */
interface HeldMapping {
  readonly target: MappingTarget
  readonly externalPort: number
  /** What the gateway granted (s). */
  readonly lifetime: number
}

/** The event a publication is: a first or moved mapping, a renewal, or mapping again after the gateway lost them. */
type Publish = 'mapped' | 'renewed' | 'remapped'

/**
 * The PCP / NAT-PMP service: finds the gateway (configured, or the default
 * route's), maps the node's TCP and QUIC (UDP) ports, publishes the mapped
 * addresses (method `pcp` or `nat-pmp`), renews at half the granted lifetime,
 * asks for the gateway's epoch every `checkInterval` (a reboot or a new
 * external address is re-mapped at once; a silent gateway withdraws the
 * addresses until it answers again), searches again with backoff when no
 * gateway answered, and removes the mappings on stop. All gateway work runs
 * one step at a time.
 */
export class PcpService implements Service {
  readonly id = 'pcp'
  private readonly logger: Logger
  private readonly stopping = new AbortController()
  private readonly schedule: number[]
  /** PCP names a mapping by its nonce: derived from the peer id, so a restarted node owns (and refreshes) its previous run's mappings. */
  private readonly nonce: Uint8Array
  private client: PortControlClient | undefined
  private externalIp: string | undefined
  private held: HeldMapping[] = []
  /** Whether the held mappings are published (false while the gateway is silent). */
  private published = false
  private failure: PcpError | undefined
  private work: Promise<void> = Promise.resolve()
  private readonly timers = new Set<NodeJS.Timeout>()
  private renewTimer: NodeJS.Timeout | undefined
  private searchTimer: NodeJS.Timeout | undefined
  private announcements: MulticastListener | undefined
  private earlyCheck: EarlyGatewayCheck | undefined
  private nextSearch: number
  private stopped = false

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedPcpOptions,
  ) {
    this.logger = components.logger.child('pcp')
    this.schedule = retransmitSchedule(options.attempts)
    this.nonce = createHash('sha256').update(`crust pcp nonce ${components.peerId}`).digest().subarray(0, NONCE_BYTES)
    this.nextSearch = options.searchInterval
  }

  /** The node's PCP / NAT-PMP status (as in `natStatus(node.nat).pcp`). */
  get status(): PcpStatus {
    return natStatus(this.components.traversal()).pcp
  }

  /** Why the gateway is unavailable or refused, as a typed error; undefined while all is well. */
  get lastError(): PcpError | undefined {
    return this.failure
  }

  /**
   * Map the ports, waiting at most twice the retransmission schedule (1.75 s
   * by default): with a gateway on the LAN that takes milliseconds, and the
   * node starts with its mapped addresses. A slower round finishes in the background.
   */
  async start(): Promise<void> {
    const candidates = mappingCandidates(this.components, this.options.gateway !== undefined)
    if ('nothing' in candidates) {
      this.settle('unavailable', candidates.nothing)
      return
    }
    this.announcements = await listenMulticast({ port: ANNOUNCE_PORT, group: ANNOUNCE_GROUP, onMessage: (message, from) => this.announced(message, from) })
    this.earlyCheck = new EarlyGatewayCheck(this.components, EARLY_CHECK_INTERVAL, (why) => this.checkSoon(why))
    const round = this.track(() => this.establish())
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 2 * this.schedule.reduce((sum, ms) => sum + ms, 0))
    })
    await Promise.race([round, bound])
    clearTimeout(timer)
  }

  /** Stop checking and renewing, remove the mappings (bounded by one retransmission schedule each), close the socket. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.announcements?.close()
    this.earlyCheck?.stop()
    this.stopping.abort()
    await this.work
    const hadMappings = this.published
    await this.removeAll()
    this.client?.close()
    this.client = undefined
    if (!hadMappings) return
    this.components.advertise([])
    this.components.reportTraversal(pcpReport({ ...this.base(), state: 'unknown', mappings: [] }))
  }

  /** Run `task` after the gateway work already queued (stop waits for it); never rejects. */
  private track(task: () => Promise<void>): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.stopped) return
      try {
        await task()
      } catch (error) {
        this.fail(asPcpError(error))
      }
    }
    this.work = this.work.then(run)
    return this.work
  }

  private later(delay: number, task: () => Promise<void>): NodeJS.Timeout | undefined {
    if (this.stopped) return undefined
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (this.searchTimer === timer) this.searchTimer = undefined
      void this.track(task)
    }, delay)
    timer.unref()
    this.timers.add(timer)
    return timer
  }

  /**
   * A gateway announced itself (it restarted, or changed address): check it
   * now rather than at the next `checkInterval`, or, while none answered, search
   * now. Only from the gateway (when known) and its port 5351, at most once a second.
   */
  private announced(message: Buffer, from: RemoteInfo): void {
    const gateway = this.client?.gateway ?? this.options.gateway
    if (this.stopped || from.port !== SERVER_PORT || (gateway !== undefined && from.address !== gateway) || !isAnnouncement(message)) return
    this.earlyCheck?.ask(`the gateway ${from.address} announced itself`)
  }

  /**
   * Something says the gateway may have changed (it announced itself, or a
   * path of the node went silent; see {@link EarlyGatewayCheck} for the
   * limit): refresh our mappings now, or, while none answered, search now.
   */
  private checkSoon(why: string): void {
    if (this.stopped) return
    this.logger.debug(`${why}: checking the gateway now`)
    if (this.client !== undefined && this.client.protocol !== undefined) {
      // Refresh every mapping, as RFC 6887 §14.1.3 asks: the epoch cannot tell a reboot within ~2 s of the last answer.
      void this.track(() => this.check(false, true))
    } else if (this.searchTimer !== undefined) {
      clearTimeout(this.searchTimer)
      this.timers.delete(this.searchTimer)
      this.searchTimer = undefined
      this.nextSearch = this.options.searchInterval
      void this.track(() => this.establish())
    }
  }

  /** Find the gateway, learn its protocol and map every port. */
  private async establish(): Promise<void> {
    const signal = this.stopping.signal
    const gateway = this.options.gateway ?? (await defaultGateway())
    if (gateway === undefined) throw new PcpError('no-gateway', 'no default gateway to ask for port mappings')
    const clientIp = await localAddressTowards(gateway, SERVER_PORT).catch((error: unknown) => {
      throw new PcpError('no-gateway', `no route to the gateway ${gateway}`, { cause: error })
    })
    this.client?.close()
    const client = await PortControlClient.open({ gateway, clientIp, schedule: this.schedule, protocols: this.options.protocols, nonce: this.nonce })
    this.client = client
    const probed = await client.probe(signal)
    if (probed.externalIp !== undefined) this.externalIp = probed.externalIp
    const targets = mappingTargets(this.components.listenAddresses(), clientIp)
    if (targets.length === 0) {
      this.settle('unavailable', `nothing to map: the node listens on no address the gateway reaches (ours towards it is ${clientIp})`)
      return
    }
    // Mapped again from scratch: a previous round's ports are asked for first.
    const previous = new Map(this.held.map((held) => [`${held.target.protocol}/${held.target.port}`, held.externalPort]))
    if (this.held.length === 0) await this.clearPreviousRun(client, targets)
    this.held = []
    await this.mapAll(
      targets.map((target) => ({
        target,
        externalPort: previous.get(`${target.protocol}/${target.port}`) ?? this.options.externalPort ?? stableExternalPort(this.components.peerId, target.protocol),
      })),
      'mapped',
    )
    this.nextSearch = this.options.searchInterval
    this.later(this.options.checkInterval, () => this.check())
  }

  /**
   * Delete whatever a previous run of this node (same key, so same nonce)
   * left mapped on the gateway: a PCP MAP with internal port 0 and lifetime 0
   * deletes every mapping of the nonce (RFC 6887 §15). The restarted node then
   * gets its stable external ports back. NAT-PMP has no such request: a
   * killed run's NAT-PMP mappings on other internal ports expire with their lease.
   */
  private async clearPreviousRun(client: PortControlClient, targets: readonly MappingTarget[]): Promise<void> {
    if (client.protocol !== 'pcp') return
    for (const protocol of new Set(targets.map((target) => target.protocol))) {
      try {
        await client.map({ protocol, internalPort: 0, externalPort: 0, lifetime: 0 }, this.stopping.signal)
      } catch (error) {
        if (asPcpError(error).reason === 'aborted') throw error
        this.logger.debug(`cannot clear a previous run's ${protocol} mappings: ${asPcpError(error).message}`)
      }
    }
  }

  /** Map (or refresh) each wanted port; publish what the gateway granted, or fail when it granted nothing. */
  private async mapAll(wanted: ReadonlyArray<{ target: MappingTarget; externalPort: number }>, type: Publish): Promise<void> {
    const client = this.client
    if (client === undefined) return
    const signal = this.stopping.signal
    const before = this.publishedAddresses()
    const kept: HeldMapping[] = []
    const failures: string[] = []
    let firstFailure: PcpError | undefined
    for (const { target, externalPort } of wanted) {
      try {
        const answer = await client.map({ protocol: target.protocol, internalPort: target.port, externalPort, lifetime: this.options.leaseSeconds }, signal)
        if (answer.externalIp !== undefined) this.externalIp = answer.externalIp
        kept.push({ target, externalPort: answer.externalPort, lifetime: answer.lifetime })
      } catch (error) {
        const failure = asPcpError(error)
        if (failure.reason === 'aborted') {
          this.held = [...kept, ...wanted.slice(kept.length + failures.length).map((w) => ({ ...w, lifetime: 0 }))]
          return
        }
        firstFailure ??= failure
        failures.push(`${target.protocol} port ${target.port}: ${failure.message}`)
      }
    }
    this.held = kept
    if (kept.length === 0) throw firstFailure ?? new PcpError('result', 'the gateway granted no mapping')
    const moved = this.publishedAddresses().join() !== before.join() || !this.published
    this.publish(type === 'renewed' && moved ? 'mapped' : type, failures)
    this.scheduleRenewal()
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer)
    if (this.renewTimer !== undefined) this.timers.delete(this.renewTimer)
    const delays = this.held.map((held) => renewDelay(held.lifetime)).filter((delay) => delay !== undefined)
    if (delays.length === 0 || this.stopped) return
    const delay = Math.max(1000, Math.min(...delays))
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void this.track(() => this.mapAll(this.held, 'renewed'))
    }, delay)
    timer.unref()
    this.timers.add(timer)
    this.renewTimer = timer
  }

  /**
   * Ask for the gateway's epoch: a reboot (its mappings are gone) or a new
   * external address re-maps now; a gateway that stopped answering has its
   * addresses withdrawn until it answers again. Runs every `checkInterval`.
   */
  private async check(reschedule = true, refresh = false): Promise<void> {
    const client = this.client
    if (client === undefined) return
    try {
      const probed = await client.probe(this.stopping.signal)
      const newAddress = probed.externalIp !== undefined && probed.externalIp !== this.externalIp
      if (probed.externalIp !== undefined) this.externalIp = probed.externalIp
      if (probed.rebooted || newAddress || !this.published) {
        const why = probed.rebooted ? 'the gateway restarted (its epoch went back): its mappings are gone' : newAddress ? `the gateway has a new external address ${probed.externalIp}` : 'the gateway answers again'
        this.logger.info(`${why}; mapping again`)
        await this.mapAll(this.held, 'remapped')
      } else if (refresh) {
        await this.mapAll(this.held, 'renewed')
      }
    } catch (error) {
      const failure = asPcpError(error)
      if (failure.reason === 'aborted') return
      // Silent or port unreachable (rebooting): keep asking every checkInterval, so it is found within one once back.
      if (failure.reason !== 'timeout' && failure.reason !== 'no-gateway') throw failure
      if (this.published) this.withdraw(`the gateway ${client.gateway} stopped answering: ${failure.message}`)
    } finally {
      // An announcement's extra check leaves the periodic one as it is.
      if (reschedule) this.later(this.options.checkInterval, () => this.check())
    }
  }

  /** Remove every held mapping (lifetime 0), within one retransmission schedule in all. */
  private async removeAll(): Promise<void> {
    const client = this.client
    const held = this.held.splice(0)
    if (client === undefined || held.length === 0 || client.protocol === undefined) return
    const signal = AbortSignal.timeout(this.schedule.reduce((sum, ms) => sum + ms, 0))
    let removed = 0
    const failed: string[] = []
    for (const mapping of held) {
      try {
        await client.map({ protocol: mapping.target.protocol, internalPort: mapping.target.port, externalPort: 0, lifetime: 0 }, signal)
        removed++
      } catch (error) {
        failed.push(`${mapping.target.protocol} port ${mapping.externalPort}: ${asPcpError(error).message}`)
      }
    }
    const message = `removed ${removed} of ${held.length} port mappings from the gateway${failed.length > 0 ? ` (left to expire: ${failed.join('; ')})` : ''}`
    this.logger.debug(message)
    this.components.notify({ service: 'pcp', type: 'removed', message })
  }

  /** The held mappings as the status reports them. */
  private mappings(): PortMapping[] {
    const externalIp = this.externalIp ?? '0.0.0.0'
    return this.held.map((held) => ({
      protocol: held.target.protocol,
      internalPort: held.target.port,
      externalPort: held.externalPort,
      address: formatAddress(held.target.transport, externalIp, held.externalPort),
    }))
  }

  private publishedAddresses(): string[] {
    return this.published ? this.mappings().map((mapping) => mapping.address) : []
  }

  /** Publish the held mappings: advertised addresses (method `pcp` / `nat-pmp`), NAT status, an event. */
  private publish(type: Publish, failures: readonly string[]): void {
    if (this.stopped) return
    const method: PortControlProtocol = this.client?.protocol ?? 'pcp'
    const mappings = this.mappings()
    this.failure = undefined
    this.published = true
    this.components.advertise(mappings.map((mapping) => ({ address: mapping.address, method })))
    this.components.reportTraversal(pcpReport({ ...this.base(), state: 'mapped', mappings }))
    const list = mappings.map((m) => `${m.protocol} ${m.internalPort} → ${m.address}`).join(', ')
    const unmapped = failures.length > 0 ? `; not mapped: ${failures.join('; ')}` : ''
    const message = `${type} ${list} with ${method} (lifetime ${this.held[0]?.lifetime ?? 0} s)${unmapped}`
    if (type !== 'renewed' || failures.length > 0) this.logger.info(message)
    else this.logger.debug(message)
    this.components.notify({ service: 'pcp', type, message })
  }

  /** The gateway went silent: stop publishing addresses that may be dead, keep the mappings to ask for again. */
  private withdraw(reason: string): void {
    if (this.stopped) return
    this.published = false
    this.components.advertise([])
    this.components.reportTraversal(pcpReport({ ...this.base(), state: 'unavailable', mappings: [], reason }))
    this.logger.info(`${reason}; addresses withdrawn until it answers`)
    this.components.notify({ service: 'pcp', type: 'unavailable', message: reason })
  }

  /** The gateway is unavailable or refused: withdraw everything, say so, and search again later when it may appear. */
  private fail(error: PcpError): void {
    if (this.stopped || error.reason === 'aborted') return
    const repeated = this.failure?.message === error.message
    this.failure = error
    clearTimeout(this.renewTimer)
    this.published = false
    this.components.advertise([])
    this.client?.close()
    this.client = undefined
    if (!repeated) this.settle(error.state, error.message)
    if (error.state !== 'unavailable') return
    // No gateway (yet): look again, less and less often.
    const wait = this.nextSearch
    this.nextSearch = Math.min(this.options.maxSearchInterval, this.nextSearch * 2)
    this.logger.debug(`searching for a PCP / NAT-PMP gateway again in ${wait} ms`)
    this.searchTimer = this.later(wait, () => this.establish())
  }

  /** Report a state with its reason: one info line and one event. */
  private settle(state: 'unavailable' | 'refused', reason: string): void {
    if (this.stopped) return
    this.components.reportTraversal(pcpReport({ ...this.base(), state, mappings: [], reason }))
    this.logger.info(`${reason}; carrying on without PCP / NAT-PMP port mappings`)
    this.components.notify({ service: 'pcp', type: state, message: reason })
  }

  /** What is known about the gateway, for the status. */
  private base(): Pick<PcpStatus, 'gateway' | 'externalIp' | 'protocol'> {
    const protocol = this.client?.protocol
    return { gateway: this.client?.gateway ?? this.options.gateway, externalIp: this.externalIp, ...(protocol === undefined ? {} : { protocol }) }
  }
}

/**
 * The external port asked for by default: derived from the peer id, so a
 * node restarted on a new local port asks for (and, its old mapping deleted,
 * gets) the external port its peers know. 10000–59999, per protocol.
 */
export function stableExternalPort(peerId: string, protocol: 'tcp' | 'udp'): number {
  return 10_000 + (createHash('sha256').update(`crust pcp port ${protocol} ${peerId}`).digest().readUInt32BE(0) % 50_000)
}

function asPcpError(error: unknown): PcpError {
  if (error instanceof PcpError) return error
  return new PcpError('malformed', error instanceof Error ? error.message : String(error), { cause: error })
}
