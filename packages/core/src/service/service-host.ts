import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { ConnectionManager } from '../manager/connection-manager.js'
import type { SecurityContext, TransportLimits } from '../transport/types.js'
import type { NatStatus, Service, ServiceComponents, ServiceFactory } from './types.js'
import { errorMessage } from '../error-text.js'

/** The status before any service has learned anything. */
const UNKNOWN_NAT: NatStatus = { reflexiveAddress: undefined, mapping: 'unknown', upnp: { state: 'unknown', mappings: [] } }

/**
 * Runs the node's service plugins: gives each its components, registers its
 * connector with the connection manager, keeps the NAT status they report,
 * and stops them (in reverse order) before connections close.
 */
export class ServiceHost {
  private services: Array<{ readonly service: Service; readonly index: number }> = []
  private natStatus: NatStatus = UNKNOWN_NAT

  constructor(
    private readonly factories: readonly ServiceFactory[],
    private readonly base: {
      peerId: string
      networkHash: string
      role: 'node' | 'client'
      security: SecurityContext
      limits: TransportLimits
    },
    private readonly manager: ConnectionManager,
    private readonly events: TypedEmitter<NodeEvents>,
    private readonly logger: Logger,
  ) {}

  /** The node's NAT status. */
  get nat(): NatStatus {
    return this.natStatus
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
    }
  }

  /** Components for the service made by factory number `index` (its published addresses are keyed by it). */
  private components(index: number): ServiceComponents {
    const manager = this.manager
    const key = advertiseKey(index)
    return {
      ...this.base,
      logger: this.logger,
      listenAddresses: () => manager.listenAddresses(),
      addresses: () => manager.addresses(),
      advertise: (addresses) => manager.advertise(key, addresses),
      datagrams: (transport) => manager.transport(transport)?.datagrams,
      externalAddresses: () => manager.externalAddresses.addresses(),
      nat: () => this.natStatus,
      updateNat: (patch) => this.updateNat(patch),
      connections: () => manager.pool.all(),
      connection: (peerId) => manager.pool.get(peerId),
      claimedAddresses: (connection) => manager.claimedAddresses(connection),
      protect: (peerId, tag) => manager.protect(peerId, `${key}:${tag}`),
      isBlacklisted: ({ peerId, ip }) => manager.blacklist.isBlocked({ peerId, ip }),
      handleProtocol: (protocol, handler) => manager.handleProtocol(protocol, handler),
      dial: (address, options) => manager.dialAddress(address, options),
      establishOutbound: (connection, options) => manager.establishOutbound(connection, options),
      acceptInbound: (connection) => void manager.acceptInbound(connection),
      traverse: (peerId, options) => manager.traverseBelow(peerId, options.belowPriority, options.signal),
      notify: (event) => this.events.emit('service:event', event),
    }
  }

  private updateNat(patch: Partial<NatStatus>): void {
    const next: NatStatus = { ...this.natStatus, ...patch }
    if (JSON.stringify(next) === JSON.stringify(this.natStatus)) return
    this.natStatus = next
    this.events.emit('nat:change', { status: next })
  }
}

function advertiseKey(index: number): string {
  return `service-${index}`
}
