import { lookup } from 'node:dns/promises'
import { networkInterfaces } from 'node:os'
import type { DatagramEndpoint, DatagramPeer, Service, ServiceComponents } from '@crust/core'
import { type NatMapping, type NatStatus, natStatus, stunReport } from '../status.js'
import { errorMessage, formatAddress, normalizeIp } from '@crust/core/plugin'
import { type BindingAnswer, bindingRequest } from './binding.js'
import { classifyMapping } from './classify.js'
import { StunError } from './errors.js'
import { type ResolvedStunOptions, isIpLiteral, splitServer } from './options.js'

/** Least time between the STUN queries that paths found dead trigger (ms). */
const CHANGE_PROBE_INTERVAL = 5_000

/**
 * Learns the reflexive address of the node's datagram socket (QUIC) from
 * STUN servers, classifies the NAT's mapping behaviour, and keeps both in
 * `natStatus(node.nat)`. Without servers it falls back to connected peers' echo.
 */
export class StunService implements Service {
  readonly id = 'stun'
  private timer: NodeJS.Timeout | undefined
  private readonly stopping = new AbortController()
  private probing: Promise<void> | undefined
  private offNetworkChange: (() => void) | undefined
  private lastChangeProbe = Number.NEGATIVE_INFINITY

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedStunOptions,
  ) {}

  async start(): Promise<void> {
    const endpoint = this.components.datagrams(this.options.transport)
    if (endpoint === undefined) {
      this.components.logger.info(`stun: the ${this.options.transport} transport offers no datagram socket; NAT type stays unknown`)
      return
    }
    await endpoint.open()
    // In the background: node start must not wait for slow or absent servers.
    void this.kick(endpoint)
    if (this.options.refreshInterval > 0) {
      this.timer = setInterval(() => void this.kick(endpoint), this.options.refreshInterval)
      this.timer.unref()
    }
    // A path gone silent or found dead may mean a NAT that moved our mapping: ask again at once (at most
    // every few seconds, so a peer that lets its own connection die cannot make us query the servers at will).
    const onChange = this.components.onNetworkChange ?? this.components.onPathLost
    this.offNetworkChange = onChange?.(() => {
      const now = performance.now()
      if (now - this.lastChangeProbe < CHANGE_PROBE_INTERVAL) return
      this.lastChangeProbe = now
      void this.kick(endpoint)
    })
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.offNetworkChange?.()
    this.stopping.abort()
    await this.probing
  }

  /** Ask again now; resolves once the NAT status is updated (for `crust nat` and tests). */
  async refresh(): Promise<NatStatus> {
    const endpoint = this.components.datagrams(this.options.transport)
    if (endpoint !== undefined) await this.kick(endpoint)
    return this.nat()
  }

  /** Start a probe unless one is running; resolves when it ends (never rejects). */
  private kick(endpoint: DatagramEndpoint): Promise<void> {
    if (this.probing === undefined) {
      const probing = this.probe(endpoint).finally(() => {
        if (this.probing === probing) this.probing = undefined
      })
      this.probing = probing
    }
    return this.probing
  }

  private async probe(endpoint: DatagramEndpoint): Promise<void> {
    try {
      if (this.options.servers.length === 0) this.fromEcho()
      else await this.fromServers(endpoint)
    } catch (error) {
      if (!this.stopping.signal.aborted) {
        const message = errorMessage(error)
        this.components.logger.info(`stun: ${message}`)
        this.components.notify({ service: 'stun', type: 'failed', message })
      }
    }
  }

  private async fromServers(endpoint: DatagramEndpoint): Promise<void> {
    const servers = await Promise.all(this.options.servers.map((server) => resolveServer(server)))
    if (servers.length === 0) throw new StunError('no-servers', 'no STUN servers configured')
    // The first server that answers is the primary: one that is down (e.g. a dead `crust serve`) must not leave the NAT unknown.
    let answered: { first: BindingAnswer; primary: DatagramPeer; others: DatagramPeer[] } | undefined
    let failure: unknown
    for (const [index, server] of servers.entries()) {
      try {
        answered = { first: await this.ask(endpoint, server), primary: server, others: servers.slice(index + 1) }
        break
      } catch (error) {
        if (this.stopping.signal.aborted) throw error
        failure = error
      }
    }
    if (answered === undefined) throw failure
    const { first, primary, others } = answered
    // Test II of RFC 5780: a second server at another IP (configured, or the first one's alternate address).
    const secondServer = others.find((server) => server.host !== primary.host) ?? alternate(first, primary)
    const second = secondServer === undefined ? undefined : await this.ask(endpoint, secondServer).catch(() => undefined)
    if (second !== undefined && normalizeIp(second.mapped.host) !== normalizeIp(first.mapped.host)) {
      // Two servers see us at different IPs: one of them lies (or the NAT pools addresses). Publish neither.
      this.withdraw(
        `STUN servers disagree on our IP (${first.mapped.host} from ${primary.host}, ${second.mapped.host} from ${secondServer?.host}); no reflexive address published`,
      )
      return
    }
    const mapping = classifyMapping(first.mapped, second?.mapped, { port: endpoint.localPort ?? 0, hosts: localHosts() })
    const reflexiveAddress = formatAddress(this.options.transport, first.mapped.host, first.mapped.port)
    this.report(reflexiveAddress, mapping, second === undefined ? [first.mapped.port] : [first.mapped.port, second.mapped.port])
  }

  private ask(endpoint: DatagramEndpoint, server: DatagramPeer): Promise<BindingAnswer> {
    return bindingRequest(endpoint, server, { timeout: this.options.timeout, retries: this.options.retries, signal: this.stopping.signal })
  }

  /** No servers: where connected peers see our socket (several different answers mean endpoint-dependent mapping). */
  private fromEcho(): void {
    const seen = this.components.externalAddresses()[this.options.transport] ?? []
    const first = seen[0]
    if (first === undefined) return
    this.report(first, seen.length > 1 ? 'endpoint-dependent' : this.nat().mapping)
  }

  /** Forget the reflexive address (and mapping) we can no longer vouch for, and say why. */
  private withdraw(message: string): void {
    const before = this.nat()
    if (before.reflexiveAddress !== undefined || before.mapping !== 'unknown') this.components.reportTraversal(stunReport(undefined, 'unknown'))
    this.components.logger.warn(`stun: ${message}`)
    this.components.notify({ service: 'stun', type: 'failed', message })
  }

  /** The NAT status as this package's services reported it. */
  private nat(): NatStatus {
    return natStatus(this.components.traversal())
  }

  private report(reflexiveAddress: string, mapping: NatMapping, mappedPorts?: readonly number[]): void {
    const before = this.nat()
    if (before.reflexiveAddress === reflexiveAddress && before.mapping === mapping) {
      // Same findings; only fresh mapped ports (what hole punching predicts from) are worth a quiet update.
      if (mappedPorts !== undefined && before.mappedPorts?.join() !== mappedPorts.join()) {
        this.components.reportTraversal(stunReport(reflexiveAddress, mapping, mappedPorts))
      }
      return
    }
    this.components.reportTraversal(stunReport(reflexiveAddress, mapping, mappedPorts))
    const message = `reflexive address ${reflexiveAddress}, NAT mapping ${mapping}`
    this.components.logger.info(`stun: ${message}`)
    this.components.notify({ service: 'stun', type: before.reflexiveAddress === undefined ? 'learned' : 'changed', message })
  }
}

async function resolveServer(server: string): Promise<DatagramPeer> {
  const { host, port } = splitServer(server)
  if (isIpLiteral(host)) return { host, port }
  try {
    const { address } = await lookup(host)
    return { host: address, port }
  } catch (error) {
    throw new StunError('bad-server', `cannot resolve STUN server ${host}: ${errorMessage(error)}`)
  }
}

/** The first server's RFC 5780 alternate address, with its primary port (test II changes only the IP). */
function alternate(answer: BindingAnswer, primary: DatagramPeer): DatagramPeer | undefined {
  const other = answer.other
  if (other === undefined || normalizeIp(other.host) === normalizeIp(primary.host)) return undefined
  return { host: other.host, port: primary.port }
}

function localHosts(): Set<string> {
  const hosts = new Set<string>()
  for (const entries of Object.values(networkInterfaces())) for (const entry of entries ?? []) hosts.add(normalizeIp(entry.address))
  return hosts
}
