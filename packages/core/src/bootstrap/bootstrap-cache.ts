import { join } from 'node:path'
import envPaths from 'env-paths'
import type { Logger } from '../logger.js'
import { normalizeIp, parseAddress } from '../transport/address.js'
import { type CacheEntry, readCacheFile, updateCacheFile } from './cache-file.js'
import { errorMessage } from '../error-text.js'

/** Changes collected before a write, and how long a change may wait. */
const FLUSH_EVERY_CHANGES = 10
const FLUSH_DELAY_MS = 1_000

/** Removals remembered between writes, at most (so a merge does not bring evicted nodes back). */
const MAX_REMOVALS = 10_000

/**
 * The default cache location: the platform's data directory (e.g.
 * `~/.local/share/crust/bootstrap`), one file per network and, with
 * `cacheName`, per application: apps that name no cache share their
 * network's file; an app that names one keeps its own.
 */
export function defaultCachePath(networkHash: string, cacheDir?: string, cacheName?: string): string {
  const dir = cacheDir ?? join(envPaths('crust', { suffix: '' }).data, 'bootstrap')
  const app = cacheName === undefined ? '' : `${cacheName}-`
  return join(dir, `bootstrap-cache-${app}${networkHash.slice(0, 16)}.json`)
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
  /** Nodes removed since the last write, and when: the merge with the file must not restore them. */
  private readonly removed = new Map<string, number>()
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
    if (entry.failures + 1 >= this.options.maxFailures) this.forget(peerId)
    else this.entries.set(peerId, { ...entry, failures: entry.failures + 1 })
    this.changed()
  }

  /** Forget a node. */
  remove(peerId: string): void {
    if (this.entries.has(peerId)) {
      this.forget(peerId)
      this.changed()
    }
  }

  /** Write pending changes now. */
  async flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.changes === 0 || this.options.path === undefined) return
    this.changes = 0
    const path = this.options.path
    const { network, logger } = this.options
    // Writes run one after another; each merges with the file as it is then
    // (other processes may share it), under its lock.
    this.writing = this.writing
      .then(() => updateCacheFile(path, network, (onDisk) => this.mergeFrom(onDisk), logger))
      .catch((error: unknown) => logger.warn(`cannot write bootstrap cache ${path}: ${errorMessage(error)}`))
    await this.writing
  }

  /**
   * Take in what another process wrote: nodes we lack, or saw less recently,
   * unless we removed them since (after they were last seen). Returns the
   * merged list, most recent first, to write back.
   */
  private mergeFrom(onDisk: readonly CacheEntry[]): CacheEntry[] {
    const excluded = this.options.exclude()
    const all = new Map(this.entries)
    for (const theirs of onDisk) {
      const ours = all.get(theirs.peerId)
      const removedAt = this.removed.get(theirs.peerId)
      if (excluded.has(theirs.peerId) || (removedAt !== undefined && removedAt >= theirs.lastSeen)) continue
      if (ours === undefined || theirs.lastSeen > ours.lastSeen) {
        all.set(theirs.peerId, { ...theirs, addresses: theirs.addresses.slice(0, this.addressesPerPeer) })
      }
    }
    this.removed.clear()
    // Each side kept `peersPerIp`; together they may not: keep the most recent per IP.
    const max = this.options.peersPerIp ?? 4
    const perIp = new Map<string, number>()
    const kept: CacheEntry[] = []
    for (const entry of [...all.values()].sort((a, b) => b.lastSeen - a.lastSeen)) {
      const ips = [...ipsOf(entry)]
      if (ips.some((ip) => (perIp.get(ip) ?? 0) >= max)) continue
      for (const ip of ips) perIp.set(ip, (perIp.get(ip) ?? 0) + 1)
      kept.push(entry)
    }
    this.entries.clear()
    for (const entry of kept.reverse()) this.entries.set(entry.peerId, entry)
    this.trim()
    return this.list()
  }

  /** Drop a node, remembering when (see {@link mergeFrom}). */
  private forget(peerId: string): void {
    this.entries.delete(peerId)
    this.removed.delete(peerId)
    this.removed.set(peerId, Date.now())
    if (this.removed.size > MAX_REMOVALS) this.removed.delete(this.removed.keys().next().value as string)
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
        this.forget(victim.peerId)
      }
    }
  }

  /** Evict down to `size`: the oldest `verified` nodes first, then the oldest `dialled`. */
  private trim(): void {
    let excess = this.entries.size - this.options.size
    if (excess <= 0) return
    for (const victim of evictionOrder([...this.entries.values()])) {
      if (excess-- <= 0) break
      this.forget(victim.peerId)
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
