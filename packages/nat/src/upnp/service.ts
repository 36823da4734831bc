import type { RemoteInfo } from 'node:dgram'
import { type Logger, type Service, type ServiceComponents, shortPeerId } from '@crust/core'
import { formatAddress } from '@crust/core/plugin'
import { EarlyGatewayCheck, mappingCandidates } from '../common/port-mapping.js'
import { type MulticastListener, listenMulticast } from '../common/multicast-listener.js'
import { type PortMapping, type UpnpStatus, natStatus, upnpReport } from '../status.js'
import { GatewayClient } from './client.js'
import { type GatewayLocation, localAddressTowards } from './discovery.js'
import { FaultCode, UpnpError, asUpnpError } from './errors.js'
import type { ResolvedUpnpOptions } from './options.js'
import { withRetries } from './retry.js'
import { backoffDelays, externalPortCandidates, renewDelay } from './schedule.js'
import { type MappingTarget, mappingTargets } from './targets.js'

/** Least time between two checks of the gateway asked for by an announcement or a silent path (ms). */
const EARLY_CHECK_INTERVAL = 2_000

/** Where gateways announce themselves (SSDP NOTIFY). */
const SSDP_GROUP = '239.255.255.250'
const SSDP_PORT = 1900
/** The longest SSDP NOTIFY read; miniupnpd's are about 500 bytes. */
const MAX_NOTIFY = 2048

/** Gateway mappings read when looking for a previous run's: enough for a home router, bounded against a hostile one. */
const MAX_LISTED = 64

/** A mapping the gateway holds for us. */
interface HeldMapping {
  readonly target: MappingTarget
  readonly externalPort: number
  /** What the gateway granted: 0 when it only does permanent mappings. */
  readonly leaseSeconds: number
}

/**
 * The UPnP service: finds the gateway, maps the node's TCP and QUIC (UDP)
 * ports, publishes the mapped addresses (method `upnp`), renews at half the
 * lease, and removes the mappings on stop. When there is no gateway, or it
 * refuses or answers garbage, it says so once (a log line at info level, a
 * `service:event`, `natStatus(node.nat).upnp`) and carries on without mappings.
 */
export class UpnpService implements Service {
  readonly id = 'upnp'
  private readonly logger: Logger
  private readonly description: string
  private readonly stopping = new AbortController()
  private client: GatewayClient | undefined
  private gateway: GatewayLocation | undefined
  private controlUrl: string | undefined
  private externalIp: string | undefined
  private held: HeldMapping[] = []
  private failure: UpnpError | undefined
  private work: Promise<void> = Promise.resolve()
  private renewTimer: NodeJS.Timeout | undefined
  private checkTimer: NodeJS.Timeout | undefined
  private searchTimer: NodeJS.Timeout | undefined
  private nextSearch: number
  private announcements: MulticastListener | undefined
  private earlyCheck: EarlyGatewayCheck | undefined
  /** Whether the held mappings are published (false while the gateway is silent). */
  private published = false
  private stopped = false

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedUpnpOptions,
  ) {
    this.logger = components.logger.child('upnp')
    this.description = options.description ?? `crust ${shortPeerId(components.peerId)}`
    this.nextSearch = options.searchInterval
  }

  /** The node's UPnP status (as in `natStatus(node.nat).upnp`). */
  get status(): UpnpStatus {
    return natStatus(this.components.traversal()).upnp
  }

  /** Why the gateway is unavailable or refused, as a typed error; undefined while all is well. */
  get lastError(): UpnpError | undefined {
    return this.failure
  }

  /**
   * Map the ports, waiting at most `discoveryTimeout + requestTimeout`: with
   * a gateway on the LAN that takes a fraction of a second, and the node then
   * starts with its mapped addresses (in its handshakes, its bootstrap). A
   * round still running then (a slow gateway being retried) finishes in the
   * background and publishes when done.
   */
  async start(): Promise<void> {
    const listening = this.components.listenAddresses()
    const candidates = mappingCandidates(this.components, this.options.gateway !== undefined)
    if ('nothing' in candidates) {
      this.settle('unavailable', candidates.nothing)
      return
    }
    // Loading nat-upnp takes a few hundred ms, once; if it fails, start() fails and the node leaves the service out.
    const client = await GatewayClient.create(this.options.requestTimeout)
    this.client = client
    this.announcements = await listenMulticast({ port: SSDP_PORT, group: SSDP_GROUP, onMessage: (message, from) => this.announced(message, from) })
    this.earlyCheck = new EarlyGatewayCheck(this.components, EARLY_CHECK_INTERVAL, (why) => this.checkSoon(why))
    let done = false
    const round = this.track(() => this.establish(client, listening)).finally(() => {
      done = true
      this.takingOver = false
    })
    await Promise.race([round, this.delay(this.options.discoveryTimeout + this.options.requestTimeout)])
    // Taking over a previous run's mappings (a restart) costs a few more requests: worth one more
    // requestTimeout, so the restarted node starts reachable at the address its peers know.
    if (!done && this.takingOver) await Promise.race([round, this.delay(this.options.requestTimeout)])
  }

  /** Resolves after `ms`, never holding the process open. */
  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref())
  }

  /** Set once the first round found a previous run's mappings to replace (read by `start`). */
  private takingOver = false

  /** Stop renewing, remove the mappings (bounded by `requestTimeout`), close nat-upnp's sockets. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearTimeout(this.renewTimer)
    clearTimeout(this.checkTimer)
    clearTimeout(this.searchTimer)
    this.announcements?.close()
    this.earlyCheck?.stop()
    this.stopping.abort()
    await this.work
    const hadMappings = this.held.length > 0
    await this.removeAll()
    this.client?.close()
    this.client = undefined
    if (!hadMappings) return
    this.components.advertise([])
    this.components.reportTraversal(upnpReport({ ...this.base(), state: 'unknown', mappings: [] }))
  }

  /** Run `task` after the gateway work already queued, one piece at a time (stop waits for it); never rejects. */
  private track(task: () => Promise<void>): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.stopped) return
      await task().catch((error: unknown) => this.logger.debug(`gateway work failed: ${asUpnpError(error).message}`))
    }
    this.work = this.work.then(run, run)
    return this.work
  }

  /** Find the gateway and map every port (never rejects: failures become the reported state). */
  private async establish(client: GatewayClient, listening: readonly string[]): Promise<void> {
    const signal = this.stopping.signal
    try {
      const gateway = await this.locate(client, signal)
      this.gateway = gateway
      client.use(gateway)
      this.controlUrl = await this.retry(() => client.describe(signal), signal)
      this.externalIp = await this.retry(() => client.externalIp(signal), signal)
      const targets = mappingTargets(listening, gateway.localAddress)
      if (targets.length === 0) {
        this.settle('unavailable', `nothing to map: the node listens on no address the gateway reaches (ours towards it is ${gateway.localAddress})`)
        return
      }
      const previous = await this.clearPreviousRun(client, gateway.localAddress, signal)
      const failures: string[] = []
      let firstFailure: UpnpError | undefined
      // Together (TCP and UDP): each is a request or a few, and the node's start may be waiting.
      const results = await Promise.allSettled(
        targets.map((target) => this.map(client, target, this.options.externalPort ?? previous.get(target.protocol) ?? target.port, signal)),
      )
      for (const [index, result] of results.entries()) {
        if (result.status === 'fulfilled') {
          this.held.push(result.value)
          continue
        }
        const failure = asUpnpError(result.reason)
        if (failure.reason === 'aborted') return
        firstFailure ??= failure
        const target = targets[index]
        failures.push(`${target?.protocol} port ${target?.port}: ${failure.message}`)
      }
      if (this.held.length === 0 && firstFailure !== undefined) throw firstFailure
      this.publish('mapped', failures)
      this.scheduleRenewal()
      this.nextSearch = this.options.searchInterval
      this.scheduleCheck()
    } catch (error) {
      this.fail(asUpnpError(error))
    }
  }

  private scheduleCheck(): void {
    clearTimeout(this.checkTimer)
    if (this.stopped) return
    this.checkTimer = setTimeout(() => void this.track(() => this.check()), this.options.checkInterval)
    this.checkTimer.unref()
  }

  /**
   * Does the gateway still hold our first mapping, with the same external IP?
   * A gateway that forgot it (rebooted) or changed address is mapped again at
   * once; a silent one has our addresses withdrawn until it answers again.
   */
  private async check(): Promise<void> {
    const client = this.client
    const first = this.held[0]
    if (client === undefined || first === undefined) return this.scheduleCheck()
    const signal = this.stopping.signal
    try {
      const entry = await this.retry(() => client.getMapping({ protocol: first.target.protocol, externalPort: first.externalPort }, signal), signal)
      const ip = await this.retry(() => client.externalIp(signal), signal)
      const lost = entry === undefined || entry.internalPort !== first.target.port || entry.internalClient !== this.gateway?.localAddress
      const moved = ip !== this.externalIp
      if (lost || moved || !this.published) {
        this.logger.info(`${lost ? 'the gateway no longer holds our mappings (rebooted?)' : moved ? `the gateway has a new external IP ${ip}` : 'the gateway answers again'}; mapping again`)
        this.externalIp = ip
        clearTimeout(this.renewTimer)
        await this.renew(true)
        return // renew() scheduled the next check
      }
    } catch (error) {
      const failure = asUpnpError(error)
      if (failure.reason === 'aborted') return
      if (failure.state === 'unavailable' && this.published) this.withdraw(`the gateway stopped answering: ${failure.message}`)
      else if (failure.state !== 'unavailable') this.logger.debug(`checking the mappings failed: ${failure.message}`)
    }
    this.scheduleCheck()
  }

  /** The gateway went silent: stop publishing addresses that may be dead, keep the mappings to ask for again. */
  private withdraw(reason: string): void {
    if (this.stopped) return
    this.published = false
    this.components.advertise([])
    this.components.reportTraversal(upnpReport({ ...this.base(), state: 'unavailable', mappings: [], reason }))
    this.logger.info(`${reason}; addresses withdrawn until it answers`)
    this.components.notify({ service: 'upnp', type: 'unavailable', message: reason })
  }

  /**
   * Remove the mappings a previous run of this node left on the gateway (it
   * was killed, or its removal failed), and return their external ports by
   * protocol, to be asked for again: peers that knew the old address reach
   * the restarted node through it at once. Only with the default description,
   * which names the peer id (a shared custom one could match another live
   * node's mappings). At most {@link MAX_LISTED} entries are read.
   */
  private async clearPreviousRun(client: GatewayClient, localAddress: string, signal: AbortSignal): Promise<Map<'tcp' | 'udp', number>> {
    const ports = new Map<'tcp' | 'udp', number>()
    if (this.options.description !== undefined) return ports
    const stale = (await client.listMappings(signal, MAX_LISTED)).filter((m) => m.description === this.description && m.internalClient === localAddress)
    if (stale.length > 0) this.takingOver = true
    for (const mapping of stale) if (!ports.has(mapping.protocol)) ports.set(mapping.protocol, mapping.externalPort)
    // Together: each is one request, and a restarted node's peers wait for the result.
    const removals = await Promise.allSettled(stale.map((mapping) => client.deleteMapping(mapping, signal)))
    for (const [index, removal] of removals.entries()) {
      if (removal.status === 'fulfilled') continue
      const error = asUpnpError(removal.reason)
      if (error.reason === 'aborted') throw error
      const mapping = stale[index]
      this.logger.debug(`cannot remove the previous run's ${mapping?.protocol} ${mapping?.externalPort}: ${error.message}`)
    }
    if (stale.length > 0) {
      const list = stale.map((m) => `${m.protocol} ${m.externalPort} → ${m.internalPort}`).join(', ')
      this.logger.info(`found ${stale.length} mappings of a previous run (${list}): removed, their external ports asked for again`)
    }
    return ports
  }

  /** The configured gateway, or the one SSDP finds. */
  private async locate(client: GatewayClient, signal: AbortSignal): Promise<GatewayLocation> {
    if (this.options.gateway === undefined) return client.discover(this.options.discoveryTimeout, signal)
    const location = new URL(this.options.gateway)
    const localAddress = await localAddressTowards(location.hostname, Number(location.port || 80))
    return { location, localAddress }
  }

  /**
   * Map `target`, preferring `externalPort`. A port held by another host
   * (fault 718) moves on to another port; a gateway that only does permanent
   * leases (fault 725) gets lease 0.
   */
  private async map(client: GatewayClient, target: MappingTarget, externalPort: number, signal: AbortSignal): Promise<HeldMapping> {
    const ports = externalPortCandidates(externalPort)
    let leaseSeconds = this.options.leaseSeconds
    let last: UpnpError | undefined
    for (let i = 0; i < ports.length; ) {
      const port = ports[i] as number
      try {
        const request = {
          protocol: target.protocol,
          internalClient: this.gateway?.localAddress ?? target.host,
          internalPort: target.port,
          externalPort: port,
          leaseSeconds,
          description: this.description,
        }
        await this.retry(() => client.addMapping(request, signal), signal)
        return { target, externalPort: port, leaseSeconds }
      } catch (error) {
        last = asUpnpError(error)
        if (last.faultCode === FaultCode.ONLY_PERMANENT_LEASES && leaseSeconds !== 0) leaseSeconds = 0
        else if (last.faultCode === FaultCode.CONFLICT) i++
        else throw last
      }
    }
    throw last ?? new UpnpError('fault', 'no external port was free')
  }

  /** Ask again for every held mapping; those the gateway no longer grants are withdrawn. */
  private async renew(remap = false): Promise<void> {
    const client = this.client
    if (client === undefined) return
    const signal = this.stopping.signal
    const before = this.publishedAddresses()
    try {
      // A router that reconnected may have a new WAN address; if it cannot say, keep the one we know.
      this.externalIp = await this.retry(() => client.externalIp(signal), signal)
    } catch (error) {
      if (asUpnpError(error).reason === 'aborted') return
      this.logger.debug(`cannot refresh the external IP, keeping ${this.externalIp}: ${asUpnpError(error).message}`)
    }
    const pending = [...this.held]
    const kept: HeldMapping[] = []
    const failures: string[] = []
    let firstFailure: UpnpError | undefined
    for (let held = pending.shift(); held !== undefined; held = pending.shift()) {
      try {
        kept.push(await this.map(client, held.target, held.externalPort, signal))
      } catch (error) {
        const failure = asUpnpError(error)
        if (failure.reason === 'aborted') {
          // Stopping: stop() removes what the gateway may still hold.
          this.held = [...kept, held, ...pending]
          return
        }
        firstFailure ??= failure
        failures.push(`${held.target.protocol} port ${held.target.port}: ${failure.message}`)
      }
    }
    this.held = kept
    if (this.stopped) return
    if (this.held.length === 0) {
      this.fail(firstFailure ?? new UpnpError('fault', 'the gateway dropped every mapping'))
      return
    }
    const moved = this.publishedAddresses().join() !== before.join() || !this.published
    this.publish(moved || remap ? 'mapped' : 'renewed', failures)
    this.scheduleRenewal()
    this.scheduleCheck()
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer)
    const delays = this.held.map((held) => renewDelay(held.leaseSeconds)).filter((delay) => delay !== undefined)
    if (delays.length === 0 || this.stopped) return
    this.renewTimer = setTimeout(() => void this.track(() => this.renew()), Math.min(...delays))
    this.renewTimer.unref()
  }

  /** Remove every held mapping, all within one `requestTimeout`. */
  private async removeAll(): Promise<void> {
    const client = this.client
    const held = this.held.splice(0)
    if (client === undefined || held.length === 0) return
    const signal = AbortSignal.timeout(this.options.requestTimeout)
    const results = await Promise.allSettled(
      held.map((mapping) => client.deleteMapping({ protocol: mapping.target.protocol, externalPort: mapping.externalPort }, signal)),
    )
    const failed = results.flatMap((result, i) =>
      result.status === 'rejected' ? [`${held[i]?.target.protocol} port ${held[i]?.externalPort}: ${asUpnpError(result.reason).message}`] : [],
    )
    const removed = held.length - failed.length
    const message = `removed ${removed} of ${held.length} port mappings from the gateway${failed.length > 0 ? ` (left to expire: ${failed.join('; ')})` : ''}`
    this.logger.debug(message)
    this.components.notify({ service: 'upnp', type: 'removed', message })
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
    return this.mappings().map((mapping) => mapping.address)
  }

  /** Publish the held mappings: advertised addresses, NAT status, an event. */
  private publish(type: 'mapped' | 'renewed', failures: readonly string[]): void {
    if (this.stopped) return
    const mappings = this.mappings()
    this.failure = undefined
    this.published = true
    this.components.advertise(mappings.map((mapping) => ({ address: mapping.address, method: 'upnp' as const })))
    this.components.reportTraversal(upnpReport({ ...this.base(), state: 'mapped', mappings }))
    const lease = this.held.some((held) => held.leaseSeconds === 0) ? 'permanent' : `lease ${this.options.leaseSeconds} s`
    const list = mappings.map((m) => `${m.protocol} ${m.internalPort} → ${m.address}`).join(', ')
    const unmapped = failures.length > 0 ? `; not mapped: ${failures.join('; ')}` : ''
    const message = `${type === 'mapped' ? 'mapped' : 'renewed'} ${list} (${lease})${unmapped}`
    if (type === 'mapped' || failures.length > 0) this.logger.info(message)
    else this.logger.debug(message)
    this.components.notify({ service: 'upnp', type, message })
  }

  /** The gateway is unavailable or refused: withdraw everything and say so once. */
  private fail(error: UpnpError): void {
    if (this.stopped || error.reason === 'aborted') return
    const repeated = this.failure?.message === error.message
    this.failure = error
    clearTimeout(this.renewTimer)
    clearTimeout(this.checkTimer)
    this.held = []
    this.published = false
    this.components.advertise([])
    this.client?.close()
    this.client = undefined
    // Said once: searching again and finding nothing again is only worth a debug line.
    if (repeated) this.logger.debug(`${error.message}; still no port mappings`)
    else this.settle(error.state, error.message)
    if (error.state === 'unavailable') this.searchAgain()
  }

  /** No gateway (yet): a fresh client searches again later, less and less often. */
  private searchAgain(): void {
    if (this.stopped) return
    const wait = this.nextSearch
    this.nextSearch = Math.min(this.options.maxSearchInterval, this.nextSearch * 2)
    this.logger.debug(`searching for a UPnP gateway again in ${wait} ms`)
    clearTimeout(this.searchTimer)
    this.searchTimer = setTimeout(() => {
      this.searchTimer = undefined
      void this.track(() => this.search())
    }, wait)
    this.searchTimer.unref()
  }

  /** Search for a gateway with a fresh client (nat-upnp's SSDP sockets were closed). */
  private async search(): Promise<void> {
    const client = await GatewayClient.create(this.options.requestTimeout).catch(() => undefined)
    if (client === undefined || this.stopped) {
      client?.close()
      return this.searchAgain()
    }
    this.client = client
    this.controlUrl = undefined
    await this.establish(client, this.components.listenAddresses())
  }

  /**
   * An SSDP `ssdp:alive` NOTIFY from a gateway (it restarted, or says it is
   * still there): check our mappings now rather than at the next
   * `checkInterval`, or, while none answered, search now. Only from the host
   * its LOCATION names (the gateway's, once known), at most once in 2 s (a
   * gateway sends a dozen at once).
   */
  private announced(message: Buffer, from: RemoteInfo): void {
    if (this.stopped || message.length > MAX_NOTIFY) return
    const location = aliveLocation(message.toString('latin1'))
    const known = this.gateway?.location.hostname
    if (location === undefined || location.hostname !== from.address || (known !== undefined && location.hostname !== known)) return
    this.earlyCheck?.ask(`the gateway ${from.address} announced itself`)
  }

  /**
   * Something says the gateway may have changed (it announced itself, or a
   * path of the node went silent; see {@link EarlyGatewayCheck} for the
   * limit): check our mappings now, or, while none answered, search now.
   */
  private checkSoon(why: string): void {
    if (this.stopped) return
    this.logger.debug(`${why}: checking the gateway now`)
    if (this.held.length > 0) {
      void this.track(() => this.check())
    } else if (this.searchTimer !== undefined) {
      clearTimeout(this.searchTimer)
      this.searchTimer = undefined
      this.nextSearch = this.options.searchInterval
      void this.track(() => this.search())
    }
  }

  /** Report a final state with its reason: one info line and one event. */
  private settle(state: 'unavailable' | 'refused', reason: string): void {
    if (this.stopped) return
    this.components.reportTraversal(upnpReport({ ...this.base(), state, mappings: [], reason }))
    this.logger.info(`${reason}; carrying on without port mappings`)
    this.components.notify({ service: 'upnp', type: state, message: reason })
  }

  /** What is known about the gateway, for the status. */
  private base(): Pick<UpnpStatus, 'gateway' | 'externalIp'> {
    return { gateway: this.controlUrl ?? this.gateway?.location.href, externalIp: this.externalIp }
  }

  private retry<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
    return withRetries(attempt, {
      delays: backoffDelays(this.options.attempts, this.options.retryDelay),
      signal,
      onRetry: (error, delay) => this.logger.debug(`${error.message}; trying again in ${delay} ms`),
    })
  }
}

/** The LOCATION of an SSDP `NOTIFY` with `NTS: ssdp:alive`, when it is an http URL. */
export function aliveLocation(text: string): URL | undefined {
  const [first, ...lines] = text.split('\r\n')
  if (!/^NOTIFY \* HTTP\/1\.[01]$/i.test(first ?? '')) return undefined
  const header = (name: string): string | undefined =>
    lines.find((line) => line.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim()
  if (header('nts')?.toLowerCase() !== 'ssdp:alive') return undefined
  try {
    const url = new URL(header('location') ?? '')
    return url.protocol === 'http:' ? url : undefined
  } catch {
    return undefined
  }
}
