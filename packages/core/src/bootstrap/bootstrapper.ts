import { createHash } from 'node:crypto'
import { sleepUnlessAborted } from '../events/sleep.js'
import type { NodeConfig } from '../config/schema.js'
import type { Connection } from '../connection/connection.js'
import type { DiscoveryService } from '../discovery/discovery-service.js'
import { AbortError, BootstrapError, TimeoutError } from '../errors.js'
import { asError } from '../error-text.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { ConnectionManager, PeerContact } from '../manager/connection-manager.js'
import { raceLimited } from '../manager/race.js'
import { normalizeIp, parseAddress } from '../transport/address.js'
import type { BootstrapCache } from './bootstrap-cache.js'

/** The bootstrapper's name as a holder of kept peers. */
const KEEP_HOLDER = 'bootstrap'

/** Where a bootstrap candidate came from, in the order they are tried. */
export type CandidateSource = 'lan' | 'cache' | 'contact'

/** A peer bootstrap may join through. */
export interface BootstrapCandidate {
  readonly peerId: string
  readonly addresses: readonly string[]
  readonly source: CandidateSource
}

/**
 * Joins the network: candidates from LAN discovery, then the cache (most
 * recent first), then hard-coded contacts, minus blacklisted ones, dialled with
 * capped parallelism under one deadline. Keeps the cache up to date from the
 * node's connections and re-checks stale entries in the background.
 */
export class Bootstrapper {
  private contacts: PeerContact[]
  private joined: Connection | undefined
  /** The peer joined through, kept connected (the keeper redials it when lost) until another is joined or the node stops. */
  private keptContact: string | undefined
  private revalidation: AbortController | undefined
  /** See {@link excludedIds}. */
  private excluded: ReadonlySet<string> | undefined
  private readonly unsubscribe: Array<() => void> = []

  constructor(
    private readonly config: NodeConfig['bootstrap'],
    private readonly selfPeerId: string,
    private readonly manager: ConnectionManager,
    private readonly discovery: DiscoveryService,
    private readonly cache: BootstrapCache,
    private readonly events: TypedEmitter<NodeEvents>,
    private readonly logger: Logger,
  ) {
    this.contacts = [...config.contacts]
  }

  /** Peer ids of the hard-coded contacts (never cached). */
  contactIds(): ReadonlySet<string> {
    return new Set(this.contacts.flatMap((c) => (c.peerId ? [c.peerId] : [])))
  }

  /**
   * Peer ids the cache never holds: this node and the hard-coded contacts.
   * Kept until the contacts change: the cache asks on every connection it records.
   */
  excludedIds(): ReadonlySet<string> {
    this.excluded ??= new Set([this.selfPeerId, ...this.contactIds()])
    return this.excluded
  }

  /** Replace the hard-coded contacts at run time. */
  setContacts(contacts: readonly PeerContact[]): void {
    this.contacts = [...contacts]
    this.excluded = undefined
    for (const id of this.contactIds()) this.cache.remove(id)
  }

  /** Load the cache and start keeping it up to date. */
  async start(): Promise<void> {
    await this.cache.load()
    this.unsubscribe.push(
      // Only addresses verified to reach the node are cached, never what it merely claims: a hostile
      // listener's HELLO could otherwise plant third parties' addresses for us to dial at every start.
      this.events.on('connection:open', ({ connection }) => {
        if (connection.direction !== 'outbound' || connection.remoteRole !== 'node') return
        if (connection.method !== 'direct' && connection.method !== 'upnp') return // not a direct address (relayed, punched, a plugin's own)
        this.cache.add({
          peerId: connection.peerId,
          addresses: [connection.remoteAddress],
          fingerprint: fingerprintOf(connection),
          origin: 'dialled',
        })
      }),
      this.events.on('peer:verified', ({ peerId, reachable }) => {
        const address = reachable ? this.manager.verifiedAddress(peerId) : undefined
        if (address === undefined) return
        this.cache.add({ peerId, addresses: [address], fingerprint: fingerprintOf(this.manager.pool.get(peerId)), origin: 'verified' })
      }),
    )
    this.revalidateInBackground()
  }

  async stop(): Promise<void> {
    this.keepJoined(undefined)
    this.revalidation?.abort()
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe()
    await this.cache.flush()
  }

  /** Join through the connection a previous bootstrap made, if it is still open, or bootstrap afresh. */
  async bootstrap(options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const previous = this.joined
    if (previous && this.manager.pool.get(previous.peerId) === previous) return previous
    return this.rebootstrap(options)
  }

  /** Bootstrap afresh, whatever the node is connected to. */
  async rebootstrap(options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const deadline = AbortSignal.timeout(this.config.timeout)
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline
    if (this.discovery.enabled && this.discovery.recent().length === 0) await sleepUnlessAborted(this.config.discoveryWait, signal)
    const candidates = this.candidates()
    if (candidates.length === 0) {
      throw new BootstrapError('no bootstrap candidates: no LAN peers, an empty cache and no contacts (all blacklisted or none known)')
    }
    const failures: Array<{ peerId?: string; addresses: readonly string[]; source: string; error: Error }> = []
    const preexisting = new Set(this.manager.pool.all())
    try {
      const { candidate, value } = await raceLimited(
        candidates,
        (c, s) => this.manager.connect({ peerId: c.peerId, addresses: c.addresses }, { retry: false, signal: s }),
        {
          limit: this.config.parallelism,
          signal,
          dispose: (connection) => {
            if (!preexisting.has(connection)) void connection.close('bootstrap: another candidate was first')
          },
          onFailure: ({ candidate, error }) => {
            failures.push({ peerId: candidate.peerId, addresses: candidate.addresses, source: candidate.source, error })
            if (candidate.source === 'cache') this.cache.fail(candidate.peerId)
          },
        },
      )
      this.joined = value
      this.keepJoined(candidate)
      this.logger.info(`bootstrapped through ${candidate.peerId} (${candidate.source})`)
      this.events.emit('bootstrap:joined', { peerId: candidate.peerId, source: candidate.source, connection: value })
      return value
    } catch (error) {
      if (error instanceof AbortError && options.signal?.aborted) throw error
      const tried = new Set(failures.map((f) => f.peerId))
      for (const c of candidates) {
        if (!tried.has(c.peerId)) {
          const reason = deadline.aborted ? new TimeoutError(`no answer within ${this.config.timeout} ms`) : asError(error)
          failures.push({ peerId: c.peerId, addresses: c.addresses, source: c.source, error: reason })
        }
      }
      const summary = failures.map((f) => `${f.peerId} (${f.source}): ${f.error.message}`).join('; ')
      throw new BootstrapError(`bootstrap failed, ${failures.length} candidate(s): ${summary}`, failures)
    }
  }

  /**
   * The node's link to the network is infrastructure: keep the peer joined
   * through connected (a lost connection is redialled with the keeper's
   * backoff), and release the previous one.
   */
  private keepJoined(candidate: BootstrapCandidate | undefined): void {
    if (this.keptContact !== undefined && this.keptContact !== candidate?.peerId) this.manager.keeper.release(this.keptContact, KEEP_HOLDER)
    this.keptContact = candidate?.peerId
    if (candidate !== undefined) this.manager.keeper.keep({ peerId: candidate.peerId, addresses: candidate.addresses }, KEEP_HOLDER)
  }

  /** Candidates in order: LAN, cache (most recent first), contacts; deduplicated, without us or blacklisted peers. */
  candidates(): BootstrapCandidate[] {
    const all: BootstrapCandidate[] = [
      ...this.discovery.recent().map((p) => ({ peerId: p.peerId, addresses: p.addresses, source: 'lan' as const })),
      ...this.cache.list().map((e) => ({ peerId: e.peerId, addresses: e.addresses, source: 'cache' as const })),
      ...this.contacts.flatMap((c) => (c.peerId ? [{ peerId: c.peerId, addresses: c.addresses, source: 'contact' as const }] : [])),
    ]
    const seen = new Set<string>([this.selfPeerId])
    const blacklist = this.manager.blacklist
    return all.filter((c) => {
      if (seen.has(c.peerId) || blacklist.blocksPeer(c.peerId)) return false
      seen.add(c.peerId)
      return c.addresses.some((a) => !blacklist.blocksIp(normalizeIp(parseAddress(a)?.host ?? '')))
    })
  }

  /** Re-check cached nodes not seen for `revalidateAfter`, one at a time, until stopped. */
  private revalidateInBackground(): void {
    const stale = this.cache.list().filter((e) => Date.now() - e.lastSeen > this.config.revalidateAfter)
    if (stale.length === 0) return
    const controller = new AbortController()
    this.revalidation = controller
    void (async () => {
      for (const entry of stale) {
        if (controller.signal.aborted) return
        try {
          const address = await this.manager.checkReachable(entry.peerId, entry.addresses)
          if (!controller.signal.aborted) this.cache.add({ ...entry, addresses: [address] })
        } catch {
          if (!controller.signal.aborted) this.cache.fail(entry.peerId)
        }
      }
    })()
  }
}

function fingerprintOf(connection: Connection | undefined): string | undefined {
  const der = connection?.transportConnection.remotePeer.certificate
  return der ? createHash('sha256').update(der).digest('hex') : undefined
}

