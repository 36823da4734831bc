/**
 * Who gets a connection slot: the gate transports consult before any TLS
 * work (blacklist, per-address and per-subnet limits, handshakes in
 * progress), the count of connections still handshaking, pruning when the
 * pool is full, and closing whatever the blacklist comes to cover.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import { Tokens } from '../di/tokens.js'
import { BlacklistedError, ConnectionLimitError } from '../errors.js'
import type { Logger } from '../logger.js'
import { normalizeIp, parseAddress } from '../transport/address.js'
import { CloseCode, type ConnectionGate, type TransportConnection } from '../transport/types.js'
import type { Blacklist } from './blacklist.js'
import { ConnectionPruner } from './connection-pruner.js'
import { InboundLimiter } from './inbound-limiter.js'
import type { PeerReports } from './peer-reports.js'
import type { ConnectionPool } from './pool.js'
import { ProtectedPeers } from './protection.js'
import type { RunState } from './run-state.js'

/** Admission of connections to the pool, and the limits that bound it. */
@injectable()
export class Admission {
  /** Secured connections not yet pooled (handshaking, or dials in flight): they count against the limits. */
  readonly pending = new Set<TransportConnection>()
  /** Peers the pruner must never close. */
  readonly protection = new ProtectedPeers()
  private readonly pruner: ConnectionPruner
  private readonly limiter: InboundLimiter

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Blacklist) private readonly blacklist: Blacklist,
    @inject(Tokens.Pool) private readonly pool: ConnectionPool,
    @inject(Tokens.RunState) private readonly state: RunState,
    @inject(Tokens.PeerReports) private readonly reports: PeerReports,
  ) {
    const limits = config.connection
    for (const peerId of limits.protectedPeers) this.protection.protect(peerId, 'config')
    for (const contact of config.bootstrap.contacts) this.protection.protect(contact.peerId, 'bootstrap')
    this.pruner = new ConnectionPruner({ gracePeriod: limits.pruneGracePeriod, isProtected: (peerId) => this.protection.has(peerId) })
    this.limiter = new InboundLimiter({
      maxInboundPerIp: limits.maxInboundPerIp,
      addressPrefixes: { ipv4: 32, ipv6: limits.ipv6PrefixLength },
      maxInboundPerSubnet: limits.maxInboundPerSubnet,
      subnetPrefixes: { ipv4: limits.ipv4SubnetPrefixLength, ipv6: limits.ipv6SubnetPrefixLength },
      maxPendingInbound: limits.maxPendingInbound,
      countPendingInbound: () => this.limiter.total - this.pool.all().filter((c) => c.direction === 'inbound').length,
      hasRoom: () => this.hasRoom(),
      describeFull: () => `connection limit reached (${limits.maxConnections}) and no connection can be pruned`,
    })
  }

  /** The gate transports consult before spending TLS work on an inbound socket. */
  readonly gate: ConnectionGate = {
    admitInbound: (remote) => {
      const ip = normalizeIp(remote.host)
      const remoteAddress = `${remote.transport}://${ip}:${remote.port}`
      if (!this.state.running) return { allow: false, code: CloseCode.SHUTDOWN, reason: 'node is stopping' }
      if (this.blacklist.blocksIp(ip)) {
        this.reports.rejected('inbound', remoteAddress, new BlacklistedError(`inbound connection from blacklisted address ${ip}`))
        return { allow: false, code: CloseCode.BLACKLISTED, reason: 'address is blacklisted' }
      }
      const admission = this.limiter.admit(ip)
      if (!admission.allow) {
        this.reports.rejected('inbound', remoteAddress, new ConnectionLimitError(admission.reason, admission.limit))
        return { allow: false, code: CloseCode.LIMIT_REACHED, reason: admission.reason }
      }
      return { allow: true, release: admission.release }
    },
  }

  /** Count a secured connection as pending until it is pooled or closed (for limits, blacklist and stop). */
  track(connection: TransportConnection): void {
    this.pending.add(connection)
    void connection.closed.then(() => this.pending.delete(connection))
  }

  /**
   * Whether one more connection fits: a free slot, counting handshakes in
   * progress, or enough connections the pruner may close.
   */
  hasRoom(): boolean {
    const excess = this.pool.size + this.pending.size + 1 - this.config.connection.maxConnections
    return excess <= 0 || this.pruner.countPrunable(this.pool.all()) >= excess
  }

  /**
   * Make a pool slot for a new connection to `peerId` by pruning the least
   * valuable unprotected connection while the pool is full.
   * @throws ConnectionLimitError when nothing can be pruned (a protected peer is admitted over the limit).
   */
  makeRoom(peerId: string): void {
    const { maxConnections } = this.config.connection
    if (this.pool.get(peerId) !== undefined) return // it replaces (or loses to) the pooled one
    while (this.pool.size >= maxConnections) {
      const victim = this.pruner.victim(this.pool.all())
      if (victim === undefined) {
        if (this.protection.has(peerId)) return // bounded by how many peers are protected
        throw new ConnectionLimitError(`the node is full (${maxConnections} connections) and none can be pruned`, 'connection.maxConnections')
      }
      this.pool.remove(victim)
      const idle = Math.round((Date.now() - victim.lastActiveAt) / 1000)
      this.logger.info(`pruned the connection to ${victim.peerId} (idle ${idle} s) to admit ${peerId}`)
      void victim.transportConnection.close({ code: CloseCode.PRUNED, reason: 'pruned: the node is full' })
    }
  }

  /** Close every connection the blacklist now covers, pooled or still handshaking. */
  enforceBlacklist(): void {
    const pooled = this.pool.all().map((c) => c.transportConnection)
    for (const connection of new Set([...pooled, ...this.pending])) {
      const ip = normalizeIp(parseAddress(connection.remoteAddress)?.host ?? '')
      if (this.blacklist.isBlocked({ peerId: connection.remotePeer.peerId, ip })) {
        this.logger.info(`closing connection to blacklisted ${connection.remotePeer.peerId} (${connection.remoteAddress})`)
        void connection.close({ code: CloseCode.BLACKLISTED, reason: 'blacklisted' })
      }
    }
  }
}
