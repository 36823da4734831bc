/**
 * The file protocol of `crust send` / `crust start --inbox`, one
 * `CrustStream` per file (`/crust/file/1`):
 *
 * ```
 * sender   → offer frame   {name, size, id}
 * receiver → answer frame  {ok: true, offset} | {ok: false, reason, message}
 * sender   → the file's bytes from offset to size, then its SHA-256 (32 bytes), then end
 * receiver → result frame  {ok: true, path, sha256} | {ok: false, reason, message}
 * ```
 *
 * A frame is a 2-byte big-endian length and that much JSON (at most
 * {@link MAX_FRAME} bytes). The receiver keeps a partial file per (peer,
 * offer) and answers its length as the offset, so a sender that lost its
 * connection resumes where the bytes stopped; the hash covers the whole file,
 * so a resumed transfer is checked end to end.
 *
 * @packageDocumentation
 */
import { z } from 'zod'

/** The stream protocol name. */
export const FILE_PROTOCOL = '/crust/file/1'

/** Largest frame (offer, answer, result) either side reads. */
export const MAX_FRAME = 4096

/** Length of the SHA-256 trailer after the file's bytes. */
export const HASH_SIZE = 32

/** Why a receiver refused or failed a file; the sender's {@link FileTransferError} carries it. */
export const FILE_REFUSALS = [
  'not-allowed',
  'too-large',
  'bad-name',
  'bad-offer',
  'no-space',
  'hash-mismatch',
  'incomplete',
  'write-failed',
] as const

/** Why a receiver refused or failed a file. */
export type FileRefusal = (typeof FILE_REFUSALS)[number]

/** The sender's offer. */
export const offerSchema = z.strictObject({
  /** The file's name, as the receiver should save it (a plain name: the receiver refuses paths). */
  name: z.string().min(1).max(255),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** Same for every attempt of one transfer (name, size and modification time): what a partial file is kept under. */
  id: z.string().regex(/^[0-9a-f]{32}$/),
})

/** The sender's offer. */
export type FileOffer = z.infer<typeof offerSchema>

const refusalSchema = z.strictObject({ ok: z.literal(false), reason: z.enum(FILE_REFUSALS), message: z.string().max(1000) })

/** The receiver's answer to an offer. */
export const answerSchema = z.union([z.strictObject({ ok: z.literal(true), offset: z.number().int().min(0) }), refusalSchema])

/** The receiver's verdict once the bytes and the hash are in. */
export const resultSchema = z.union([z.strictObject({ ok: z.literal(true), path: z.string().max(4096), sha256: z.string().regex(/^[0-9a-f]{64}$/) }), refusalSchema])

/** A refusal frame. */
export type Refusal = z.infer<typeof refusalSchema>

/** One frame: 2-byte length, JSON. */
export function encodeFrame(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8')
  if (json.length > MAX_FRAME) throw new RangeError(`file protocol frame of ${json.length} bytes exceeds ${MAX_FRAME}`)
  const frame = Buffer.allocUnsafe(2 + json.length)
  frame.writeUInt16BE(json.length, 0)
  json.copy(frame, 2)
  return frame
}

/** A frame that is not what the protocol expects. */
export class FrameError extends Error {}

/**
 * Reads frames, then raw bytes, from one stream: one iterator throughout, so
 * bytes that came with a frame are not lost.
 */
export class FrameReader {
  private readonly iterator: AsyncIterator<Uint8Array>
  private buffered: Buffer = Buffer.alloc(0)

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  /**
   * The next frame, parsed with `schema`.
   *
   * @throws FrameError when the stream ends first, or the frame is too long, not JSON or not `schema`.
   */
  async frame<S extends z.ZodType>(schema: S): Promise<z.infer<S>> {
    const length = (await this.take(2)).readUInt16BE(0)
    if (length > MAX_FRAME) throw new FrameError(`frame of ${length} bytes exceeds ${MAX_FRAME}`)
    const bytes = await this.take(length)
    let json: unknown
    try {
      json = JSON.parse(bytes.toString('utf8'))
    } catch {
      throw new FrameError('frame is not JSON')
    }
    const parsed = schema.safeParse(json)
    if (!parsed.success) throw new FrameError(`unexpected frame: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    return parsed.data
  }

  /** The bytes after the frames read so far, as they arrive. */
  async *rest(): AsyncGenerator<Uint8Array> {
    if (this.buffered.length > 0) {
      const first = this.buffered
      this.buffered = Buffer.alloc(0)
      yield first
    }
    for (;;) {
      const next = await this.iterator.next()
      if (next.done) return
      yield next.value
    }
  }

  private async take(n: number): Promise<Buffer> {
    while (this.buffered.length < n) {
      const next = await this.iterator.next()
      if (next.done) throw new FrameError('the stream ended before the frame')
      // Bounded: at most one chunk beyond a frame of <= MAX_FRAME bytes is buffered.
      const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength)
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk])
    }
    const taken = this.buffered.subarray(0, n)
    this.buffered = this.buffered.subarray(n)
    return taken
  }
}
