import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import lockfile from 'proper-lockfile'
import { z } from 'zod'
import type { Logger } from '../logger.js'
import { errorMessage } from '../error-text.js'

const entrySchema = z.object({
  peerId: z.string().min(1).max(128),
  addresses: z.array(z.string().max(256)).max(64),
  /** Milliseconds since the epoch when we last connected. */
  lastSeen: z.number().int().nonnegative(),
  /** SHA-256 (hex) of the certificate the peer presented, to recognise it next time. */
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** Failed bootstrap attempts in a row. */
  failures: z.number().int().nonnegative().default(0),
  /**
   * How its addresses were verified: `dialled` (we connected to it) or
   * `verified` (it connected to us and answered a dial-back). Genuine nodes we
   * chose to dial outrank peers that merely connected to us when evicting.
   */
  origin: z.enum(['dialled', 'verified']).default('dialled'),
})
/** One cached node. */
export type CacheEntry = z.infer<typeof entrySchema>

const fileSchema = z.object({
  version: z.literal(1),
  /** Network name hash: a cache is never used for another network. */
  network: z.string(),
  peers: z.array(entrySchema).max(100_000),
})

/**
 * Read and validate a cache file. A missing file is an empty cache; a corrupt
 * or unreadable one is moved aside (`<file>.corrupt-<time>`) with a warning and
 * is also an empty cache, so a bad file can never stop a node from starting.
 */
export async function readCacheFile(path: string, network: string, logger: Logger): Promise<CacheEntry[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    logger.warn(`bootstrap cache ${path} is unreadable (${errorMessage(error)}); starting with an empty cache`)
    return []
  }
  let problem: string
  try {
    const parsed = fileSchema.safeParse(JSON.parse(text))
    if (parsed.success) {
      if (parsed.data.network === network) return parsed.data.peers
      problem = 'it belongs to another network'
    } else {
      const issue = parsed.error.issues[0]
      problem = `${issue?.path.join('.') || 'file'}: ${issue?.message ?? 'invalid'}`
    }
  } catch (error) {
    problem = `not JSON (${errorMessage(error)})`
  }
  const aside = `${path}.corrupt-${Date.now()}`
  await rename(path, aside).catch(() => {})
  logger.warn(`bootstrap cache ${path} is invalid (${problem}); moved it to ${aside} and started with an empty cache`)
  return []
}

/**
 * Write the cache atomically: a temporary file in the same directory, flushed
 * to disk, then renamed over the old one. A crash leaves the old or the new
 * file, never a torn one.
 */
export async function writeCacheFile(path: string, network: string, peers: readonly CacheEntry[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await open(temporary, 'w', 0o600)
  try {
    await handle.writeFile(JSON.stringify({ version: 1, network, peers }))
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temporary, path)
  } catch (error) {
    await unlink(temporary).catch(() => {})
    throw error
  }
}

/** How long a lock may go without its holder touching it before others take it over (a crashed process). */
const LOCK_STALE_MS = 10_000

/**
 * Read, merge and write the cache under an inter-process lock (`<file>.lock`,
 * via proper-lockfile), so processes sharing one cache file never lose each
 * other's updates: `merge` gets what is on disk now and returns what to write
 * (written atomically, as {@link writeCacheFile}).
 */
export async function updateCacheFile(
  path: string,
  network: string,
  merge: (onDisk: readonly CacheEntry[]) => readonly CacheEntry[],
  logger: Logger,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const release = await lockfile.lock(path, {
    realpath: false, // the cache file may not exist yet
    stale: LOCK_STALE_MS,
    retries: { retries: 50, minTimeout: 10, maxTimeout: 200, factor: 1.5 },
  })
  try {
    const merged = merge(await readCacheFile(path, network, logger))
    await writeCacheFile(path, network, merged)
  } finally {
    await release().catch(() => {}) // already released means it went stale; the write above is atomic anyway
  }
}
