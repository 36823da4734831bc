import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { MetricsRecorder } from '../metrics/types.js'
import type { ConnectionManager } from '../manager/connection-manager.js'
import type { DiscoveryService } from '../discovery/discovery-service.js'
import type { SecurityContext, TransportLimits } from '../transport/types.js'
import { CloseCode } from '../transport/types.js'
import type { Service, ServiceComponents, ServiceFactory, TraversalReport, TraversalStatus } from './types.js'
import { Connection } from '../connection/connection.js'
import { ConfigError } from '../errors.js'
import { errorMessage } from '../error-text.js'
import { isConnectionMethod } from '../transport/types.js'

/**
 * Runs the node's service plugins: gives each its components, registers its
 * connector with the connection manager, keeps the traversal reports they make,
 * and stops them (in reverse order) before connections close.
 */
export class ServiceHost {
  private services: Array<{ readonly service: Service; readonly index: number }> = []
  /** The latest report of each kind; replaced, never mutated, so a status handed out stays as it was. */
  private status: TraversalStatus = {}
  /** Releases of the keep holds each service (by factory index) has, released when it stops. */
  private readonly holds = new Map<number, Set<() => void>>()
  /** Numbers keep holds, so each releases only its own. */
  private holdCount = 0

  constructor(
    private readonly factories: readonly ServiceFactory[],
    private readonly base: {
      peerId: string
      networkHash: string
      role: 'node' | 'client'
      security: SecurityContext
      limits: TransportLimits
      metrics: MetricsRecorder
    },
    private readonly manager: ConnectionManager,
    private readonly events: TypedEmitter<NodeEvents>,
    private readonly logger: Logger,
    /** Where services that discover peers (a rendezvous client) report them; absent in some tests. */
    private readonly discovery?: DiscoveryService,
  ) {}

  /** The latest traversal report of each kind. */
  get traversal(): TraversalStatus {
    return this.status
  }

  /** The running services. */
  get running(): readonly Service[] {
    return this.services.map((entry) => entry.service)
  }

  /** Instantiate and start every service. One that fails to start is logged and left out. */
  async start(): Promise<void> {
    for (const [index, factory] of this.factories.entries()) {
      let service: Service | undefined
      try {
        service = factory(this.components(index))
        await service.start()
      } catch (error) {
        this.logger.warn(`service ${service?.id ?? '?'} failed to start: ${errorMessage(error)}`)
        this.releaseHolds(index)
        continue
      }
      this.services.push({ service, index })
      if (service.connector !== undefined) this.manager.addConnector(service.id, service.connector)
    }
  }

  /** Stop every service, last started first. */
  async stop(): Promise<void> {
    this.manager.clearConnectors()
    for (const { service, index } of this.services.splice(0).reverse()) {
      await service.stop().catch((error: unknown) => {
        this.logger.warn(`service ${service.id} failed to stop cleanly: ${errorMessage(error)}`)
      })
      this.manager.advertise(advertiseKey(index), [])
      this.releaseHolds(index)
    }
  }

  /** Release every keep hold the service made by factory number `index` still has. */
  private releaseHolds(index: number): void {
    const holds = this.holds.get(index)
    this.holds.delete(index)
    for (const release of holds ?? []) release()
  }

  /** Keep `peerId` for the service made by factory `index`; the release is idempotent. */
  private keep(index: number, peerId: string, addresses: readonly string[]): () => void {
    const holder = `${advertiseKey(index)}:keep ${++this.holdCount}`
    this.manager.keeper.keep({ peerId, addresses }, holder)
    const holds = this.holds.get(index) ?? new Set<() => void>()
    this.holds.set(index, holds)
    const release = (): void => {
      if (!holds.delete(release)) return
      this.manager.keeper.release(peerId, holder)
    }
    holds.add(release)
    return release
  }

  /** Components for the service made by factory number `index` (its published addresses are keyed by it). */
  private components(index: number): ServiceComponents {
    const manager = this.manager
    const key = advertiseKey(index)
    const discovery = this.discovery
    return {
      ...this.base,
      ...(discovery && {
        identity: discovery.identity,
        peerDiscovered: (peer) => discovery.discovered(peer),
        connectDiscovered: (peer) => discovery.autoConnect(peer),
      }),
      logger: this.logger,
      listenAddresses: () => manager.listenAddresses(),
      addresses: () => manager.addresses(),
      advertise: (addresses) => manager.advertise(key, addresses),
      datagrams: (transport) => manager.transport(transport)?.datagrams,
      externalAddresses: () => manager.externalAddresses.addresses(),
      traversal: () => this.status,
      reportTraversal: (report) => this.report(report),
      connections: () => manager.pool.all(),
      connection: (peerId) => manager.pool.get(peerId),
      // Only the core's own connections carry claims; anything else a service passes has none.
      claimedAddresses: (connection) => (connection instanceof Connection ? manager.claimedAddresses(connection) : []),
      protect: (peerId, tag) => manager.protect(peerId, `${key}:${tag}`),
      keep: (peerId, addresses) => this.keep(index, peerId, addresses),
      isBlacklisted: ({ peerId, ip }) => manager.blacklist.isBlocked({ peerId, ip }),
      handleProtocol: (protocol, handler) => manager.handleProtocol(protocol, handler),
      dial: (address, options) => manager.dialAddress(address, options),
      establishOutbound: (connection, options) => manager.establishOutbound(connection, options),
      acceptInbound: (connection) => manager.acceptInbound(connection),
      traverse: (peerId, options) => manager.traverseBelow(peerId, options.belowPriority, options.signal),
      notify: (event) => this.events.emit('service:event', event),
      onPathLost: (listener) => this.onPathLost(index, listener),
      onNetworkChange: (listener) => this.heldUntilStop(index, manager.onNetworkChange(listener)),
    }
  }

  /** Call `listener` for every connection closed as PATH_LOST, until the service made by factory `index` stops. */
  private onPathLost(index: number, listener: (peerId: string) => void): () => void {
    const off = this.events.on('connection:close', (event) => {
      if (event.code === CloseCode.PATH_LOST) listener(event.peerId)
    })
    return this.heldUntilStop(index, off)
  }

  /** Run `off` when the service made by factory `index` stops, unless it ran before (the returned release). */
  private heldUntilStop(index: number, off: () => void): () => void {
    const holds = this.holds.get(index) ?? new Set<() => void>()
    this.holds.set(index, holds)
    const release = (): void => {
      if (!holds.delete(release)) return
      off()
    }
    holds.add(release)
    return release
  }

  private report(report: TraversalReport): void {
    // The same form as connection methods, so a kind can name the method its connections get.
    if (!isConnectionMethod(report.kind)) {
      throw new ConfigError(`traversal report kind '${report.kind}' is not a well-formed name (a-z, 0-9, -; at most 32)`)
    }
    const previous = this.status[report.kind]
    if (previous !== undefined && JSON.stringify(previous) === JSON.stringify(report)) return
    this.status = { ...this.status, [report.kind]: report }
    this.events.emit('nat:change', { status: this.status, report })
    if (moved(previous?.addresses, report.addresses)) this.manager.addressMoved()
  }
}

/** A mechanism that knew the node's public addresses now reports others: the network under the node changed. */
function moved(before: readonly string[] | undefined, after: readonly string[] | undefined): boolean {
  if (before === undefined || after === undefined || before.length === 0 || after.length === 0) return false
  return before.some((address) => !after.includes(address))
}

function advertiseKey(index: number): string {
  return `service-${index}`
}
