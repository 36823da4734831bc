import { join } from 'node:path'
import envPaths from 'env-paths'
import type { Logger } from '../logger.js'
import { normalizeIp, parseAddress } from '../transport/address.js'
import { type CacheEntry, readCacheFile, writeCacheFile } from './cache-file.js'
import { errorMessage } from '../error-text.js'

/** Changes collected before a write, and how long a change may wait. */
const FLUSH_EVERY_CHANGES = 10
const FLUSH_DELAY_MS = 1_000

/** The default cache location: the platform's data directory, one file per network. */
export function defaultCachePath(networkHash: string, cacheDir?: string): string {
  const dir = cacheDir ?? join(envPaths('crust', { suffix: '' }).data, 'bootstrap')
  return join(dir, `bootstrap-cache-${networkHash.slice(0, 16)}.json`)
}

/** Options of {@link BootstrapCache}. */
export interface BootstrapCacheOptions {
  /** File to persist to; undefined keeps the cache in memory only. */
  readonly path: string | undefined
  readonly network: string
  readonly size: number
  readonly maxFailures: number
  /** Most addresses kept per node, most recently verified first (default 4). */
  readonly addressesPerPeer?: number
  /** Most nodes kept whose addresses share one IP (default 4): one host cannot fill the cache with identities. */
  readonly peersPerIp?: number
  /** Peer ids never cached (hard-coded contacts, ourselves). */
  readonly exclude: () => ReadonlySet<string>
  readonly logger: Logger
}

/** A node to record, with addresses verified to reach it. */
export interface VerifiedPeer {
  readonly peerId: string
  /** Addresses verified to reach it: the one we connected to, or the one that answered a dial-back. Never merely claimed ones. */
  readonly addresses: readonly string[]
  readonly fingerprint?: string
  /** How they were verified (default `dialled`). */
  readonly origin?: CacheEntry['origin']
}

/**
 * The most recently connected, directly reachable nodes (default 200), kept in
 * recency order and written to disk in batches. Nodes that fail repeatedly are
 * evicted. Poisoning is bounded: only verified addresses are added (see
 * {@link VerifiedPeer}), at most `addressesPerPeer` per node and
 * `peersPerIp` nodes per IP; when full, nodes that only connected to us
 * (`verified`) are evicted before nodes we dialled (`dialled`).
 */
export class BootstrapCache {
  /** Map order is recency: oldest first. */
  private readonly entries = new Map<string, CacheEntry>()
  private changes = 0
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor(private readonly options: BootstrapCacheOptions) {}

  /** Load the file (a bad file never throws: see `readCacheFile`). */
  async load(): Promise<void> {
    if (this.options.path === undefined) return
    const peers = await readCacheFile(this.options.path, this.options.network, this.options.logger)
    const excluded = this.options.exclude()
    // The file lists the most recent first; equal timestamps keep that order.
    const oldestFirst = peers.map((peer, index) => ({ peer, index })).sort((a, b) => a.peer.lastSeen - b.peer.lastSeen || b.index - a.index)
    for (const { peer } of oldestFirst) {
      if (!excluded.has(peer.peerId)) this.entries.set(peer.peerId, { ...peer, addresses: peer.addresses.slice(0, this.addressesPerPeer) })
    }
    this.trim()
  }

  /** Nodes, most recently seen first. */
  list(): CacheEntry[] {
    return [...this.entries.values()].reverse()
  }

  get size(): number {
    return this.entries.size
  }

  /**
   * Record a successful connection to a reachable node, with the addresses
   * that were verified to reach it; they go first, before those kept from
   * earlier verifications, `addressesPerPeer` in all.
   */
  add(peer: VerifiedPeer): void {
    if (this.options.exclude().has(peer.peerId) || peer.addresses.length === 0) return
    const previous = this.entries.get(peer.peerId)
    this.entries.delete(peer.peerId)
    const origin = previous?.origin === 'dialled' || (peer.origin ?? 'dialled') === 'dialled' ? 'dialled' : 'verified'
    const entry: CacheEntry = {
      peerId: peer.peerId,
      addresses: [...new Set([...peer.addresses, ...(previous?.addresses ?? [])])].slice(0, this.addressesPerPeer),
      lastSeen: Date.now(),
      fingerprint: peer.fingerprint ?? previous?.fingerprint,
      failures: 0,
      origin,
    }
    this.limitPerIp(entry)
    this.entries.set(peer.peerId, entry)
    this.trim()
    this.changed()
  }

  /** Record a failed attempt; evicts the node after `maxFailures` in a row. */
  fail(peerId: string): void {
    const entry = this.entries.get(peerId)
    if (!entry) return
    if (entry.failures + 1 >= this.options.maxFailures) this.entries.delete(peerId)
    else this.entries.set(peerId, { ...entry, failures: entry.failures + 1 })
    this.changed()
  }

  /** Forget a node. */
  remove(peerId: string): void {
    if (this.entries.delete(peerId)) this.changed()
  }

  /** Write pending changes now. */
  async flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.changes === 0 || this.options.path === undefined) return
    this.changes = 0
    const path = this.options.path
    const snapshot = this.list()
    // Writes run one after another so an older snapshot never lands last.
    this.writing = this.writing
      .then(() => writeCacheFile(path, this.options.network, snapshot))
      .catch((error: unknown) => this.options.logger.warn(`cannot write bootstrap cache ${path}: ${errorMessage(error)}`))
    await this.writing
  }

  private changed(): void {
    this.changes++
    if (this.changes >= FLUSH_EVERY_CHANGES) {
      void this.flush()
      return
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_DELAY_MS)
      this.timer.unref()
    }
  }

  private get addressesPerPeer(): number {
    return this.options.addressesPerPeer ?? 4
  }

  /** Make room for `entry` among the nodes sharing one of its IPs: the oldest go, `verified` before `dialled`. */
  private limitPerIp(entry: CacheEntry): void {
    const max = this.options.peersPerIp ?? 4
    for (const ip of ipsOf(entry)) {
      const sharing = [...this.entries.values()].filter((other) => ipsOf(other).has(ip))
      let excess = sharing.length + 1 - max
      for (const victim of evictionOrder(sharing)) {
        if (excess-- <= 0) break
        this.entries.delete(victim.peerId)
      }
    }
  }

  /** Evict down to `size`: the oldest `verified` nodes first, then the oldest `dialled`. */
  private trim(): void {
    let excess = this.entries.size - this.options.size
    if (excess <= 0) return
    for (const victim of evictionOrder([...this.entries.values()])) {
      if (excess-- <= 0) break
      this.entries.delete(victim.peerId)
    }
  }
}

/** Entries (given oldest first) in the order to evict them: `verified` ones, then `dialled` ones, oldest first in each. */
function evictionOrder(entries: readonly CacheEntry[]): CacheEntry[] {
  return [...entries.filter((e) => e.origin === 'verified'), ...entries.filter((e) => e.origin !== 'verified')]
}

/** The IPs of an entry's addresses. */
function ipsOf(entry: CacheEntry): Set<string> {
  const ips = new Set<string>()
  for (const address of entry.addresses) {
    const host = parseAddress(address)?.host
    if (host) ips.add(normalizeIp(host))
  }
  return ips
}
