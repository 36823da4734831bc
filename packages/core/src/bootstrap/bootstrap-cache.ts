import { join } from 'node:path'
import envPaths from 'env-paths'
import type { Logger } from '../logger.js'
import { type CacheEntry, readCacheFile, writeCacheFile } from './cache-file.js'

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
  /** Peer ids never cached (hard-coded contacts, ourselves). */
  readonly exclude: () => ReadonlySet<string>
  readonly logger: Logger
}

/**
 * The most recently connected, directly reachable nodes (default 200), kept in
 * recency order and written to disk in batches. Nodes that fail repeatedly are
 * evicted.
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
      if (!excluded.has(peer.peerId)) this.entries.set(peer.peerId, peer)
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

  /** Record a successful connection to a reachable node. */
  add(peer: { peerId: string; addresses: readonly string[]; fingerprint?: string }): void {
    if (this.options.exclude().has(peer.peerId) || peer.addresses.length === 0) return
    this.entries.delete(peer.peerId)
    this.entries.set(peer.peerId, {
      peerId: peer.peerId,
      addresses: [...new Set(peer.addresses)].slice(0, 64),
      lastSeen: Date.now(),
      fingerprint: peer.fingerprint,
      failures: 0,
    })
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
      .catch((error: unknown) => this.options.logger.warn(`cannot write bootstrap cache ${path}: ${(error as Error).message}`))
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

  private trim(): void {
    while (this.entries.size > this.options.size) this.entries.delete(this.entries.keys().next().value as string)
  }
}
