/**
 * The beacon discovery plugin: sockets, timers and the query/announce
 * exchange, wiring together the codec, receiver checks, targets and
 * address rules.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import type { RemoteInfo, Socket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import type { DiscoveredPeer, Discovery, DiscoveryComponents, Logger } from '@crust/core'
import { TokenBucket, errorMessage } from '@crust/core/plugin'
import { advertisedAddresses, resolveAdvertised } from './addresses.js'
import { bareIp } from './ip.js'
import { type BeaconOptions, type ResolvedBeaconOptions, resolveOptions } from './options.js'
import { PeerTable } from './peer-table.js'
import { KeyedRateLimiter } from './rate-limiter.js'
import { BeaconReceiver, DROP_REASONS, type DropReason } from './receiver.js'
import { type BeaconType, NONCE_LENGTH } from './schema.js'
import { type SenderPlan, planForSource, planSenders } from './targets.js'
import { closeSocket, openSocket } from './udp.js'
import { encodeBeacon } from './wire.js'

/** The `via` of peers this plugin reports. */
export const BEACON_VIA = 'beacon'

/** Counters and the sizes of every bounded structure, for monitoring and tests. */
export interface BeaconStats {
  /** Datagrams handed to the kernel without error. */
  readonly sent: number
  /** Sends that failed (e.g. an interface without a route); logged at debug level. */
  readonly sendErrors: number
  /** Datagrams received. */
  readonly received: number
  /** Beacons that passed every check. */
  readonly accepted: number
  /** Datagrams dropped, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>
  /** Queries answered. */
  readonly answered: number
  /** Queries not answered: the querier was over its answer rate, or not on one of our links. */
  readonly unanswered: number
  /** Exceptions caught in the socket handler (should stay 0). */
  readonly handlerErrors: number
  /** Current sizes of the bounded maps and caches, and of live sockets and timers. */
  readonly sizes: {
    readonly rateLimiter: number
    readonly replayCache: number
    readonly peers: number
    readonly answerLimiter: number
    readonly peerLimiter: number
    readonly sockets: number
    readonly timers: number
  }
}

interface Sender {
  readonly plan: SenderPlan
  readonly socket: Socket
  /** See {@link endpointKey}. */
  readonly endpoint: string
}

/**
 * A key naming a local sending socket by the source a datagram from it
 * carries: IPv4 sockets are bound to one address, IPv6 ones to `::`, where
 * the port alone is unique.
 */
function endpointKey(ip: string, port: number): string {
  return ip.includes(':') ? `v6|${port}` : `${ip}|${port}`
}

type Counter = 'sent' | 'sendErrors' | 'received' | 'accepted' | 'answered' | 'unanswered' | 'handlerErrors'

/**
 * LAN discovery by signed UDP beacons. Use through {@link beacon}; construct
 * directly only to reach {@link BeaconDiscovery.stats}.
 *
 * How beacons travel (and why every node on a host is reached although they
 * share the port with SO_REUSEADDR, which hands each unicast datagram to only
 * one of the sockets bound to it):
 * - each node has one shared listening socket per family on the beacon port,
 *   which only receives broadcast and multicast (delivered to every socket);
 * - and one sending socket per interface on a port of its own. Queries and
 *   announcements go from there to broadcast/multicast destinations; a query
 *   is answered by unicast to the querier's source address and port, which is
 *   its own sending socket, so the answer reaches exactly that node.
 */
export class BeaconDiscovery implements Discovery {
  readonly id = 'beacon'
  private readonly options: ResolvedBeaconOptions
  private readonly logger: Logger
  private readonly receiver: BeaconReceiver
  private readonly peers: PeerTable
  private readonly answersPerQuerier: KeyedRateLimiter
  private readonly answerBudget: TokenBucket
  /** New peers per source IP: a host cannot flood the node with throw-away identities. */
  private readonly newPeersPerSource: KeyedRateLimiter
  private readonly senders = new Map<string, Sender>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly memberships = new Set<string>()
  /** `ip|port` (IPv4) or `v6|port` of our own senders: their looped-back beacons are dropped before any work. */
  private readonly ownEndpoints = new Set<string>()
  private listener4: Socket | undefined
  private listener6: Socket | undefined
  private plans: SenderPlan[] = []
  private running = false
  private refreshing: Promise<void> | undefined
  private readonly counters: Record<Counter, number> = {
    sent: 0,
    sendErrors: 0,
    received: 0,
    accepted: 0,
    answered: 0,
    unanswered: 0,
    handlerErrors: 0,
  }
  private readonly dropped = Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>

  /**
   * @param components - What the node gives discovery plugins.
   * @param options - Plugin options (validated here).
   * @throws ConfigError on invalid options.
   */
  constructor(
    private readonly components: DiscoveryComponents,
    options: BeaconOptions = {},
  ) {
    this.options = resolveOptions(options)
    const { limits } = this.options
    this.logger = components.logger.child('beacon')
    this.receiver = new BeaconReceiver({
      identity: components.identity,
      networkHash: components.networkHash,
      isBlacklisted: (peer) => components.isBlacklisted(peer),
      maxSize: this.options.maxSize,
      loopbackOnly: this.options.loopback,
      replayWindow: this.options.replayWindow,
      perSourceBurst: limits.perSourceBurst,
      perSourceRate: limits.perSourceRate,
      maxSources: limits.maxSources,
      verifyRate: limits.verifyRate,
      replayCacheSize: limits.replayCacheSize,
    })
    this.peers = new PeerTable(limits.maxPeers, this.options.reportInterval, this.options.interval)
    const perQuerierRate = limits.answerInterval > 0 ? 1000 / limits.answerInterval : 1000
    this.answersPerQuerier = new KeyedRateLimiter({ burst: 2, perSecond: perQuerierRate }, limits.maxSources)
    this.answerBudget = new TokenBucket({ burst: limits.answerRate * 2, perSecond: limits.answerRate })
    this.newPeersPerSource = new KeyedRateLimiter(
      { burst: limits.newPeersPerSourceBurst, perSecond: limits.newPeersPerSourceRate },
      limits.maxSources,
    )
  }

  /** Bind the sockets, send the start queries and schedule announcements. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      const listener = await this.openListener('udp4', '0.0.0.0')
      if (!this.running) {
        await closeSocket(listener) // stopped while binding
        return
      }
      this.listener4 = listener
      await this.refresh()
    } catch (error) {
      await this.stop()
      throw error
    }
    if (!this.running) return
    for (let i = 0; i < this.options.queries; i++) {
      if (i === 0) this.sendAll('query')
      else this.later(i * this.options.queryInterval, () => this.sendAll('query'))
    }
    this.scheduleAnnounce()
    this.logger.debug(`beacons on port ${this.options.port} via ${[...this.senders.keys()].join(', ') || 'no interface'}`)
  }

  /** Clear every timer and close every socket. */
  async stop(): Promise<void> {
    this.running = false
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    await this.refreshing?.catch(() => {})
    const sockets = [...[...this.senders.values()].map((s) => s.socket), this.listener4, this.listener6]
    this.senders.clear()
    this.memberships.clear()
    this.ownEndpoints.clear()
    this.listener4 = undefined
    this.listener6 = undefined
    this.plans = []
    await Promise.all(sockets.map((socket) => (socket ? closeSocket(socket) : undefined)))
    this.receiver.clear()
    this.peers.clear()
    this.answersPerQuerier.clear()
    this.newPeersPerSource.clear()
  }

  /** Counters and sizes of internal state. */
  stats(): BeaconStats {
    return {
      ...this.counters,
      dropped: { ...this.dropped },
      sizes: {
        rateLimiter: this.receiver.sources.size,
        replayCache: this.receiver.replay.size,
        peers: this.peers.size,
        answerLimiter: this.answersPerQuerier.size,
        peerLimiter: this.newPeersPerSource.size,
        sockets: this.senders.size + (this.listener4 ? 1 : 0) + (this.listener6 ? 1 : 0),
        timers: this.timers.size,
      },
    }
  }

  /** Where beacons currently go: one entry per sending socket. */
  targets(): Array<{ readonly interfaceName: string; readonly family: 4 | 6; readonly destinations: readonly string[] }> {
    return [...this.senders.values()].map(({ plan }) => ({
      interfaceName: plan.interfaceName,
      family: plan.family,
      destinations: plan.destinations.map((d) => d.host),
    }))
  }

  private async openListener(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
    const socket = await openSocket({ type, address, port: this.options.port, reuseAddr: this.options.reuseAddr })
    this.watch(socket, `${type} listener`)
    return socket
  }

  private watch(socket: Socket, name: string): void {
    socket.on('message', (datagram, rinfo) => this.onDatagram(datagram, rinfo))
    socket.on('error', (error) => this.logger.debug(`${name}: ${error.message}`))
  }

  /** Re-read the interfaces; open senders for new ones, close those of vanished ones. */
  private refresh(): Promise<void> {
    const run = this.reconcile().finally(() => {
      if (this.refreshing === run) this.refreshing = undefined
    })
    this.refreshing = run
    return run
  }

  private async reconcile(): Promise<void> {
    const plans = planSenders(networkInterfaces(), this.options)
    const wanted = new Set(plans.map((plan) => plan.key))
    for (const [key, sender] of this.senders) {
      if (wanted.has(key)) continue
      this.senders.delete(key)
      this.ownEndpoints.delete(sender.endpoint)
      this.leave(sender.plan)
      await closeSocket(sender.socket)
    }
    for (const plan of plans) {
      if (this.senders.has(plan.key)) continue
      if (plan.family === 6 && !this.listener6) {
        try {
          const listener = await this.openListener('udp6', '::')
          if (!this.running) {
            await closeSocket(listener)
            return
          }
          this.listener6 = listener
        } catch (error) {
          this.logger.debug(`no IPv6 listener: ${errorMessage(error)}`)
          continue
        }
      }
      let socket: Socket
      try {
        socket = await this.openSender(plan)
      } catch (error) {
        this.logger.debug(`cannot send on ${plan.key}: ${errorMessage(error)}`)
        continue
      }
      if (!this.running) {
        await closeSocket(socket)
        return
      }
      const endpoint = endpointKey(plan.bindAddress, socket.address().port)
      this.senders.set(plan.key, { plan, socket, endpoint })
      this.ownEndpoints.add(endpoint)
      this.join(plan)
    }
    this.plans = plans.filter((plan) => this.senders.has(plan.key))
  }

  private async openSender(plan: SenderPlan): Promise<Socket> {
    const socket = await openSocket({ type: plan.family === 4 ? 'udp4' : 'udp6', address: plan.bindAddress, port: 0 })
    try {
      if (plan.family === 4) socket.setBroadcast(true)
      socket.setMulticastTTL(this.options.multicastTtl)
      socket.setMulticastLoopback(true) // other nodes on this host hear us
      socket.setMulticastInterface(plan.multicastInterface)
    } catch (error) {
      await closeSocket(socket)
      throw error
    }
    this.watch(socket, `sender ${plan.key}`)
    return socket
  }

  private join(plan: SenderPlan): void {
    const listener = plan.family === 4 ? this.listener4 : this.listener6
    const { membership } = plan
    if (!listener || !membership) return
    const key = `${membership.group}|${membership.interfaceAddress}`
    if (this.memberships.has(key)) return
    try {
      listener.addMembership(membership.group, membership.interfaceAddress)
      this.memberships.add(key)
    } catch (error) {
      this.logger.debug(`cannot join ${key}: ${errorMessage(error)}`)
    }
  }

  private leave(plan: SenderPlan): void {
    const listener = plan.family === 4 ? this.listener4 : this.listener6
    const { membership } = plan
    if (!membership) return
    const key = `${membership.group}|${membership.interfaceAddress}`
    if (!this.memberships.delete(key)) return
    try {
      listener?.dropMembership(membership.group, membership.interfaceAddress)
    } catch {
      // the interface is gone, and the membership with it
    }
  }

  private scheduleAnnounce(): void {
    const { interval, jitter } = this.options
    const delay = Math.round(interval * (1 + jitter * (2 * Math.random() - 1)))
    this.later(delay, async () => {
      try {
        await this.refresh()
        if (this.running) this.sendAll('announce')
      } finally {
        // Even when reading the interfaces failed this time: try again next round.
        if (this.running) this.scheduleAnnounce()
      }
    })
  }

  /** Run `task` after `delay` ms unless stopped; tracked so stop() clears it. */
  private later(delay: number, task: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (!this.running) return
      Promise.resolve()
        .then(task)
        .catch((error: unknown) => this.logger.warn(`beacon task failed: ${String(error)}`))
    }, delay)
    this.timers.add(timer)
  }

  /** Send one fresh beacon per sender to all its destinations. */
  private sendAll(type: BeaconType): void {
    for (const { plan, socket } of this.senders.values()) {
      const datagram = this.beaconFor(plan, type)
      if (!datagram) continue
      for (const destination of plan.destinations) this.send(socket, datagram, this.options.port, destination.host)
    }
  }

  private beaconFor(plan: SenderPlan, type: BeaconType): Uint8Array | undefined {
    const { identity } = this.components
    try {
      return encodeBeacon(
        {
          type,
          networkHash: this.components.networkHash,
          timestamp: Date.now(),
          nonce: randomBytes(NONCE_LENGTH).toString('hex'),
          peerId: identity.peerId,
          publicKey: identity.publicKey,
          addresses: advertisedAddresses(this.components.addresses(), plan.outgoing),
        },
        (data) => identity.sign(data),
        this.options.maxSize,
      )
    } catch (error) {
      this.logger.warn(`cannot build a beacon: ${errorMessage(error)}`)
      return undefined
    }
  }

  private send(socket: Socket, datagram: Uint8Array, port: number, host: string): void {
    try {
      socket.send(datagram, port, host, (error) => {
        if (!error) {
          this.counters.sent++
          return
        }
        this.counters.sendErrors++
        this.logger.debug(`send to ${host}:${port} failed: ${error.message}`)
      })
    } catch (error) {
      this.counters.sendErrors++
      this.logger.debug(`send to ${host}:${port} failed: ${errorMessage(error)}`)
    }
  }

  private onDatagram(datagram: Buffer, rinfo: RemoteInfo): void {
    try {
      this.receive(datagram, rinfo)
    } catch (error) {
      this.counters.handlerErrors++
      this.logger.debug(`datagram from ${rinfo.address}:${rinfo.port}: ${String(error)}`)
    }
  }

  private receive(datagram: Buffer, rinfo: RemoteInfo): void {
    if (!this.running) return
    this.counters.received++
    if (this.ownEndpoints.has(endpointKey(rinfo.address, rinfo.port))) {
      this.dropped.self++ // our own beacon, looped back: not worth a token or a decode
      return
    }
    const verdict = this.receiver.check(datagram, rinfo.address)
    if (!verdict.ok) {
      this.dropped[verdict.reason]++
      return
    }
    this.counters.accepted++
    const { beacon } = verdict
    // Only addresses the source vouches for, and few: a signature proves who sent a beacon, not whose addresses it lists.
    const addresses = resolveAdvertised(beacon.addresses, rinfo.address, {
      scope: this.options.addressScope,
      maxAddresses: this.options.limits.addressesPerBeacon,
      isBlockedIp: (ip) => this.components.isBlacklisted({ ip }),
    })
    if (addresses.length > 0) {
      const peer: DiscoveredPeer = { peerId: beacon.peerId, addresses, via: BEACON_VIA }
      const source = bareIp(rinfo.address)
      const decision = this.peers.observe(peer.peerId, addresses, () => this.newPeersPerSource.take(source))
      if (decision.limited) this.dropped['peer-rate']++
      if (decision.report) this.components.peerDiscovered(peer)
      if (this.options.autoConnect && decision.connect) {
        this.components.connect(peer).catch((error: unknown) => this.logger.debug(`connect failed: ${String(error)}`))
      }
    }
    if (beacon.type === 'query') this.answer(rinfo)
  }

  /** Answer a query by unicast to the querier's own socket, through the interface it came in on. */
  private answer(rinfo: RemoteInfo): void {
    const plan = planForSource(this.plans, rinfo.address)
    const sender = plan && this.senders.get(plan.key)
    if (!plan || !sender) {
      this.counters.unanswered++ // not on one of our links
      return
    }
    if (!this.answersPerQuerier.take(`${rinfo.address}|${rinfo.port}`) || !this.answerBudget.take()) {
      this.counters.unanswered++
      return
    }
    const datagram = this.beaconFor(plan, 'announce')
    if (!datagram) return
    this.counters.answered++
    this.send(sender.socket, datagram, rinfo.port, rinfo.address)
  }
}
