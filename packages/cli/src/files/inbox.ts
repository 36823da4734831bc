/**
 * The receiving side of file transfers: chunks are written into a hidden
 * part file at their offset (they may arrive out of order), and once all
 * are in, the SHA-256 is checked and the file renamed into the inbox.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { access, type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, extname, join } from 'node:path'
import { type ChunkAnswer, type ChunkHeader, decodeChunk } from './wire.js'

/** A file the inbox saved. */
export interface SavedFile {
  /** Who sent it. */
  readonly peerId: string
  /** The name the sender gave. */
  readonly name: string
  /** Where it was saved. */
  readonly path: string
  readonly size: number
  /** SHA-256, hex, verified against the sender's. */
  readonly sha256: string
  /** From the first chunk to the verified file, in ms. */
  readonly ms: number
}

/** Options of an {@link Inbox}. */
export interface InboxOptions {
  /** Drop a transfer that received nothing for this long (ms). */
  readonly idleTimeout?: number
  /** Most transfers in progress at once. */
  readonly maxTransfers?: number
}

interface Transfer {
  readonly header: ChunkHeader
  readonly partPath: string
  readonly started: number
  readonly received: Set<number>
  /** Opened once, shared by concurrently arriving chunks. */
  readonly file: Promise<FileHandle>
  timer: NodeJS.Timeout
  finishing: boolean
}

/** Reassembles incoming files into a directory. */
export class Inbox {
  private readonly transfers = new Map<string, Transfer>()
  private readonly idleTimeout: number
  private readonly maxTransfers: number

  constructor(
    /** The inbox directory (created on the first file). */
    readonly dir: string,
    private readonly onSaved: (file: SavedFile) => void,
    options: InboxOptions = {},
  ) {
    this.idleTimeout = options.idleTimeout ?? 60_000
    this.maxTransfers = options.maxTransfers ?? 16
  }

  /**
   * Take one chunk message from `peerId`; resolves to the answer for the
   * sender (`done` with the saved path on the chunk that completed the file).
   *
   * @throws Error for a malformed or inconsistent chunk, or a hash mismatch (the sender sees it).
   */
  async receive(peerId: string, message: Uint8Array): Promise<ChunkAnswer> {
    const { header, data } = decodeChunk(message)
    const transfer = this.transferFor(peerId, header)
    const key = keyOf(peerId, header.id)
    this.touch(key, transfer)
    if (!transfer.received.has(header.index)) {
      const file = await transfer.file
      await file.write(data, 0, data.length, header.index * header.chunkSize)
      transfer.received.add(header.index)
    }
    if (transfer.received.size < header.total || transfer.finishing) return { ok: true }
    transfer.finishing = true
    return this.finish(peerId, key, transfer)
  }

  /** Drop every transfer in progress and delete its part file. */
  async close(): Promise<void> {
    await Promise.all([...this.transfers.keys()].map((key) => this.drop(key)))
  }

  private transferFor(peerId: string, header: ChunkHeader): Transfer {
    const key = keyOf(peerId, header.id)
    const existing = this.transfers.get(key)
    if (existing !== undefined) {
      const h = existing.header
      if (h.size !== header.size || h.sha256 !== header.sha256 || h.chunkSize !== header.chunkSize || h.name !== header.name) {
        throw new Error(`file chunk ${header.index} does not match transfer ${header.id}`)
      }
      return existing
    }
    if (this.transfers.size >= this.maxTransfers) throw new Error(`the receiver already has ${this.maxTransfers} transfers in progress`)
    const partPath = join(this.dir, `.crust-${header.id}.part`)
    // Registered before any await: chunks of one file arrive concurrently and must share one transfer.
    const file = mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => open(partPath, 'w', 0o600))
    file.catch(() => {}) // awaited by each chunk; this only keeps an early failure from being unhandled
    const transfer: Transfer = {
      header,
      partPath,
      started: performance.now(),
      received: new Set(),
      file,
      timer: setTimeout(() => void this.drop(key), this.idleTimeout).unref(),
      finishing: false,
    }
    this.transfers.set(key, transfer)
    return transfer
  }

  private touch(key: string, transfer: Transfer): void {
    clearTimeout(transfer.timer)
    transfer.timer = setTimeout(() => void this.drop(key), this.idleTimeout).unref()
  }

  private async finish(peerId: string, key: string, transfer: Transfer): Promise<ChunkAnswer> {
    clearTimeout(transfer.timer)
    const { header } = transfer
    try {
      await (await transfer.file).close()
      const sha256 = await hashFile(transfer.partPath)
      if (sha256 !== header.sha256) throw new Error(`SHA-256 mismatch for ${header.name}: got ${sha256}, expected ${header.sha256}`)
      const path = await freePath(this.dir, safeName(header.name))
      await rename(transfer.partPath, path)
      this.onSaved({ peerId, name: header.name, path, size: header.size, sha256, ms: performance.now() - transfer.started })
      return { done: true, path, sha256 }
    } finally {
      this.transfers.delete(key)
      await rm(transfer.partPath, { force: true })
    }
  }

  private async drop(key: string): Promise<void> {
    const transfer = this.transfers.get(key)
    if (transfer === undefined) return
    this.transfers.delete(key)
    clearTimeout(transfer.timer)
    await transfer.file.then((file) => file.close()).catch(() => {})
    await rm(transfer.partPath, { force: true })
  }
}

function keyOf(peerId: string, id: string): string {
  return `${peerId}/${id}`
}

/** SHA-256 of a file, hex. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** A name that stays inside the inbox: no directories, no control characters, not hidden. */
export function safeName(name: string): string {
  const base = basename(name.replaceAll('\\', '/'))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim()
  if (base === '' || base === '.' || base === '..') return 'file'
  return base.startsWith('.') ? `_${base.slice(1)}` : base
}

/** `dir/name`, or `dir/name (1).ext`, ... when taken. */
async function freePath(dir: string, name: string): Promise<string> {
  const ext = extname(name)
  const stem = name.slice(0, name.length - ext.length)
  for (let n = 0; ; n++) {
    const candidate = join(dir, n === 0 ? name : `${stem} (${n})${ext}`)
    try {
      await access(candidate)
    } catch {
      return candidate
    }
  }
}
