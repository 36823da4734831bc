/**
 * The receiving side of file transfers (`crust start --inbox`): each file
 * arrives on its own `/crust/file/1` stream (see `protocol.ts`), is written
 * to a hidden partial file as it comes (the stream's backpressure paces the
 * sender to the disk), hashed on the way, and published under its name only
 * once the whole file's SHA-256 matches the sender's.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import { link, mkdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises'
import { extname, join } from 'node:path'
import type { CrustNode, CrustStream } from '@crust/core'
import { badFileName } from './names.js'
import type { z } from 'zod'
import {
  type answerSchema,
  encodeFrame,
  FILE_PROTOCOL,
  type FileOffer,
  type FileRefusal,
  FrameReader,
  HASH_SIZE,
  offerSchema,
  type Refusal,
  type resultSchema,
} from './protocol.js'

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
  /** Bytes that were already in the partial file from an earlier attempt. */
  readonly resumedFrom: number
  /** From the offer to the verified file, in ms. */
  readonly ms: number
}

/** A transfer the inbox refused or lost. */
export interface RefusedFile {
  readonly peerId: string
  readonly name?: string
  readonly reason: FileRefusal | 'interrupted'
  readonly message: string
}

/** Options of an {@link Inbox}. */
export interface InboxOptions {
  /** The inbox directory (created on the first file, mode 0700). */
  readonly dir: string
  /** Largest file accepted, in bytes. */
  readonly maxFileSize: number
  /** Peer ids allowed to send files; everyone else is refused (`not-allowed`). */
  readonly allow: ReadonlySet<string>
  readonly onSaved?: (file: SavedFile) => void
  readonly onRefused?: (file: RefusedFile) => void
  /** Inbound file streams at once from all peers (default 16) and from one peer (default 4). */
  readonly maxTransfers?: number
  readonly maxTransfersPerPeer?: number
  /** A transfer that moved no byte for this long is dropped, its partial file kept (default 60 s). */
  readonly idleTimeout?: number
}

type Answer = z.infer<typeof answerSchema>
type Result = Exclude<z.infer<typeof resultSchema>, { ok: false }>

interface Active {
  readonly stream: CrustStream
  readonly done: Promise<void>
}

/** Receives files into a directory over the file protocol. */
export class Inbox {
  /** Transfers in progress by partial-file key: a resumed attempt replaces a stale one. */
  private readonly active = new Map<string, Active>()

  constructor(private readonly options: InboxOptions) {}

  /** The inbox directory. */
  get dir(): string {
    return this.options.dir
  }

  /** Serve the file protocol on `node`. */
  register(node: CrustNode): void {
    node.handleStream(FILE_PROTOCOL, (stream) => this.receive(stream), {
      maxInboundStreams: this.options.maxTransfers ?? 16,
      maxStreamsPerPeer: this.options.maxTransfersPerPeer ?? 4,
      idleTimeout: this.options.idleTimeout ?? 60_000,
    })
  }

  /** Take one file from `stream` (the file protocol's stream handler). Never rejects. */
  async receive(stream: CrustStream): Promise<void> {
    const reader = new FrameReader(stream)
    const peerId = stream.peerId
    const refuse = (reason: FileRefusal, message: string, name?: string): void => {
      const refusal: Refusal = { ok: false, reason, message }
      stream.end(encodeFrame(refusal))
      this.options.onRefused?.({ peerId, reason, message, ...(name === undefined ? {} : { name }) })
    }
    // Refused before reading anything: a peer not allowed never gets to send bytes.
    if (!this.options.allow.has(peerId)) return refuse('not-allowed', `peer ${peerId} is not allowed to send files here (crust start --allow <peerId>)`)
    let offer: FileOffer
    try {
      offer = await reader.frame(offerSchema)
    } catch (error) {
      return stream.destroyed ? undefined : refuse('bad-offer', `bad file offer: ${(error as Error).message}`)
    }
    const bad = badFileName(offer.name)
    if (bad !== undefined) return refuse('bad-name', `refused the name ${JSON.stringify(offer.name)}: ${bad}`, offer.name)
    if (offer.size > this.options.maxFileSize) {
      return refuse('too-large', `${offer.name} is ${offer.size} bytes, more than the ${this.options.maxFileSize} bytes this inbox takes (--max-file)`, offer.name)
    }
    const key = createHash('sha256').update(`${peerId}\0${offer.id}\0${offer.name}\0${offer.size}`).digest('hex').slice(0, 32)
    // A sender that lost its connection and came back: its stale stream (if the receiver has not
    // noticed yet) gives way, so the new attempt sees the partial file complete up to where it ended.
    const stale = this.active.get(key)
    if (stale !== undefined) {
      stale.stream.abort()
      await stale.done
    }
    let finished!: () => void
    const entry: Active = { stream, done: new Promise((resolve) => (finished = resolve)) }
    this.active.set(key, entry)
    try {
      await this.take(stream, reader, offer, join(this.options.dir, `.crust-${key}.part`), refuse)
    } catch (error) {
      if (!stream.destroyed) refuse('write-failed', `cannot save ${offer.name}: ${(error as Error).message}`, offer.name)
    } finally {
      if (this.active.get(key) === entry) this.active.delete(key)
      finished()
    }
  }

  /** Abort the transfers in progress (their partial files stay, for the senders to resume). */
  async close(): Promise<void> {
    const active = [...this.active.values()]
    for (const { stream } of active) stream.abort()
    await Promise.all(active.map((a) => a.done))
  }

  private async take(
    stream: CrustStream,
    reader: FrameReader,
    offer: FileOffer,
    partPath: string,
    refuse: (reason: FileRefusal, message: string, name?: string) => void,
  ): Promise<void> {
    const started = performance.now()
    const peerId = stream.peerId
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 })
    let offset = await stat(partPath).then(
      (s) => s.size,
      () => 0,
    )
    if (offset > offer.size) {
      await rm(partPath, { force: true })
      offset = 0
    }
    const space = await statfs(this.options.dir)
    if (space.bavail * space.bsize < offer.size - offset) {
      return refuse('no-space', `not enough disk space for ${offer.name} (${offer.size - offset} bytes to come)`, offer.name)
    }
    const hash = createHash('sha256')
    if (offset > 0) await hashInto(hash, partPath, offset)
    stream.write(encodeFrame({ ok: true, offset } satisfies Answer))

    const out = createWriteStream(partPath, { flags: offset > 0 ? 'a' : 'w', mode: 0o600 })
    let remaining = offer.size - offset
    const trailer: Buffer[] = []
    let trailerLength = 0
    try {
      for await (const chunk of reader.rest()) {
        let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        if (remaining > 0) {
          const data = rest.subarray(0, Math.min(remaining, rest.length))
          rest = rest.subarray(data.length)
          remaining -= data.length
          hash.update(data)
          if (!out.write(data)) await drained(out)
        }
        // Read on to the sender's end (so the stream finishes both ways); the trailer is bounded.
        if (rest.length > 0) {
          trailer.push(rest)
          trailerLength += rest.length
          if (trailerLength > HASH_SIZE) break // more than announced: refused below
        }
      }
    } catch (error) {
      // The connection or stream was lost: the partial file stays for the sender to resume.
      await closeFile(out)
      this.options.onRefused?.({ peerId, name: offer.name, reason: 'interrupted', message: `transfer of ${offer.name} interrupted at ${offer.size - remaining} bytes: ${(error as Error).message}` })
      return
    }
    try {
      await closeFile(out)
    } catch (error) {
      return refuse('write-failed', `cannot write ${offer.name}: ${(error as Error).message}`, offer.name)
    }
    if (remaining > 0 || trailerLength !== HASH_SIZE) {
      // Short: keep the partial file (the sender may resume); a wrong trailer: the stream was not ours.
      if (stream.destroyed) {
        this.options.onRefused?.({ peerId, name: offer.name, reason: 'interrupted', message: `transfer of ${offer.name} interrupted at ${offer.size - remaining} bytes` })
        return
      }
      return refuse('incomplete', trailerLength > HASH_SIZE ? `the sender sent more than the ${offer.size} bytes of ${offer.name} it offered` : `the stream of ${offer.name} ended ${remaining > 0 ? `${remaining} bytes short` : 'without its SHA-256'}`, offer.name)
    }
    const sha256 = hash.digest('hex')
    const claimed = Buffer.concat(trailer).toString('hex')
    if (sha256 !== claimed) {
      // Bad bytes are not resumed from: the next attempt starts over.
      await rm(partPath, { force: true })
      return refuse('hash-mismatch', `SHA-256 mismatch for ${offer.name}: received ${sha256}, the sender's is ${claimed}; the partial file was deleted`, offer.name)
    }
    const path = await publish(partPath, this.options.dir, offer.name)
    const result: Result = { ok: true, path, sha256 }
    stream.end(encodeFrame(result))
    this.options.onSaved?.({ peerId, name: offer.name, path, size: offer.size, sha256, resumedFrom: offset, ms: performance.now() - started })
  }
}

/** Feed the first `length` bytes of `path` into `hash`. */
async function hashInto(hash: Hash, path: string, length: number): Promise<void> {
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1, highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer)
}

/** Resolves when `out` can take more, rejects when it fails. */
function drained(out: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      out.off('drain', onDrain)
      out.off('error', done)
      if (error) reject(error)
      else resolve()
    }
    const onDrain = (): void => done()
    out.once('drain', onDrain)
    out.once('error', done)
  })
}

/** End `out` and wait until its bytes are written and the file closed. */
function closeFile(out: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.closed) return resolve()
    out.once('close', () => resolve())
    out.once('error', reject)
    out.end()
  })
}

/**
 * Move the verified partial file to `dir/name`, or `name (1).ext`, ... when
 * taken: a hard link fails on an existing name, so nothing is ever
 * overwritten, even by a file that appeared meanwhile.
 */
async function publish(partPath: string, dir: string, name: string): Promise<string> {
  const ext = extname(name)
  const stem = name.slice(0, name.length - ext.length)
  for (let n = 0; ; n++) {
    const candidate = join(dir, n === 0 ? name : `${stem} (${n})${ext}`)
    try {
      await link(partPath, candidate)
      await unlink(partPath)
      return candidate
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EEXIST') continue
      // File systems without hard links: rename, after checking the name is free.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error
      if (await stat(candidate).then(() => true, () => false)) continue
      await rename(partPath, candidate)
      return candidate
    }
  }
}
