import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { ConnectionManager } from '../manager/connection-manager.js'
import { AutoConnectBudget, type AutoConnectLimits, type AutoConnectStats, autoConnectSchema } from './auto-connect.js'
import { dialOrder } from './dial-order.js'
import type { DiscoveredPeer, Discovery, DiscoveryComponents, DiscoveryFactory, DiscoveryIdentity } from './types.js'
import { errorMessage } from '../error-text.js'

/** How many recently discovered peers are remembered as bootstrap candidates. */
const RECENT_LIMIT = 256

/**
 * Runs the node's discovery plugins and turns what they find into events,
 * bootstrap candidates and (when a plugin asks) connections, always through
 * the connection manager so limits and the blacklist apply.
 */
export class DiscoveryService {
  private plugins: Discovery[] = []
  private readonly recentPeers = new Map<string, DiscoveredPeer>()
  private readonly budget: AutoConnectBudget
  /** Peers this node waits for to dial first (bounded by `maxPending`), and how to end each wait. */
  private readonly yielding = new Map<string, () => void>()
  /** True once `stop()` began: no new waits. */
  private stopped = false

  constructor(
    private readonly factories: readonly DiscoveryFactory[],
    /** The node's signing identity, also handed to services that discover peers (see `ServiceComponents.identity`). */
    readonly identity: DiscoveryIdentity,
    private readonly networkHash: string,
    private readonly manager: ConnectionManager,
    private readonly events: TypedEmitter<NodeEvents>,
    private readonly logger: Logger,
    /** Budget of dials plugins may trigger (default: the `autoConnect` config defaults). */
    private readonly limits: AutoConnectLimits = autoConnectSchema.parse({}),
    /** Whether this node is dialable from anywhere now (its traversal reports say so; see `isReachable`). */
    private readonly reachable: () => boolean = () => false,
  ) {
    this.budget = new AutoConnectBudget(limits)
  }

  /** Counters of auto-connects: attempted, dials allowed, skipped by reason. */
  autoConnectStats(): AutoConnectStats {
    return this.budget.stats()
  }

  /** True when at least one discovery plugin is configured. */
  get enabled(): boolean {
    return this.factories.length > 0
  }

  /** Instantiate and start every plugin. A plugin that fails to start is logged and left out. */
  async start(): Promise<void> {
    this.stopped = false
    const components = this.components()
    for (const factory of this.factories) {
      const plugin = factory({ ...components, logger: this.logger.child('discovery') })
      try {
        await plugin.start()
        this.plugins.push(plugin)
      } catch (error) {
        this.logger.warn(`discovery ${plugin.id} failed to start: ${errorMessage(error)}`)
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const end of [...this.yielding.values()]) end()
    await Promise.allSettled(this.plugins.splice(0).map((plugin) => plugin.stop()))
  }

  /** Peers discovered recently, most recent first. */
  recent(): DiscoveredPeer[] {
    return [...this.recentPeers.values()].reverse()
  }

  private components(): DiscoveryComponents {
    return {
      identity: this.identity,
      networkHash: this.networkHash,
      logger: this.logger,
      addresses: () => this.manager.addresses(),
      isBlacklisted: ({ peerId, ip }) => this.manager.blacklist.isBlocked({ peerId, ip }),
      peerDiscovered: (peer) => this.discovered(peer),
      connect: (peer) => this.autoConnect(peer),
    }
  }

  /** Connect as a plugin (or a service that discovers peers) asked, within the node-wide budget (see {@link AutoConnectBudget}). */
  async autoConnect(peer: DiscoveredPeer): Promise<void> {
    if (peer.peerId === this.identity.peerId || this.manager.pool.get(peer.peerId)) return
    if (this.manager.blacklist.isBlocked({ peerId: peer.peerId })) return
    // A deterministic tie-break: the side that can reach the other dials at once (the lower peer id when
    // both or neither can), the other one only if no connection came by `yieldDelay`.
    const order = dialOrder({ ownPeerId: this.identity.peerId, peerId: peer.peerId, ownReachable: this.reachable(), peerReachable: peer.reachable })
    if (order === 'yield' && (await this.yieldTo(peer.peerId))) return
    const reserved = this.budget.reserve(peer.peerId, peer.addresses)
    if (!reserved.ok) {
      this.logger.debug(`auto-connect to ${peer.peerId} (${peer.via}) skipped: ${reserved.reason}`)
      return
    }
    try {
      await this.manager.connect({ peerId: peer.peerId, addresses: reserved.addresses }, { retry: false })
    } catch (error) {
      this.logger.debug(`auto-connect to ${peer.peerId} failed: ${errorMessage(error)}`)
    } finally {
      reserved.release()
    }
  }

  /**
   * Wait up to `yieldDelay` for `peerId` to connect; true when it did, or the
   * node stops, or a wait for it is already running (that one dials if need
   * be). With `maxPending` waits running, false at once: dial now.
   */
  private async yieldTo(peerId: string): Promise<boolean> {
    if (this.limits.yieldDelay === 0) return false
    if (this.stopped || this.yielding.has(peerId)) return true
    if (this.yielding.size >= this.limits.maxPending) return false
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        off()
        this.yielding.delete(peerId)
        resolve()
      }
      const timer = setTimeout(done, this.limits.yieldDelay)
      const off = this.events.on('peer:connected', (event) => {
        if (event.peerId === peerId) done()
      })
      this.yielding.set(peerId, done)
    })
    return this.stopped || this.manager.pool.get(peerId) !== undefined
  }

  /** Report a peer a plugin (or a service that discovers peers) found: emits `peer:discovered`. */
  discovered(peer: DiscoveredPeer): void {
    if (peer.peerId === this.identity.peerId || this.manager.blacklist.isBlocked({ peerId: peer.peerId })) return
    this.recentPeers.delete(peer.peerId) // re-insert: Map order is recency
    this.recentPeers.set(peer.peerId, peer)
    if (this.recentPeers.size > RECENT_LIMIT) {
      const oldest = this.recentPeers.keys().next().value
      if (oldest !== undefined) this.recentPeers.delete(oldest)
    }
    this.events.emit('peer:discovered', { peerId: peer.peerId, addresses: peer.addresses, via: peer.via })
  }
}
