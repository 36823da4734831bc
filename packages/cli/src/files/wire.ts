/**
 * The file-transfer messages of the CLI. The core carries one message per
 * call, so a file travels as a series of chunk requests, each with a small
 * header, which the receiving `crust start` reassembles:
 *
 * ```
 * 4 bytes  magic 00 'C' 'F' 01
 * 2 bytes  header length n (big-endian)
 * n bytes  header, JSON (ChunkHeader)
 * rest     the chunk's bytes
 * ```
 *
 * The magic starts with a zero byte, so it never collides with text messages.
 *
 * @packageDocumentation
 */
import { z } from 'zod'

const MAGIC = Buffer.from([0x00, 0x43, 0x46, 0x01])
const MAX_HEADER = 4096

/** Size of every chunk but the last: 1 MiB, well under the core's 16 MiB message limit. */
export const CHUNK_SIZE = 1024 * 1024

/** Largest file a receiver accepts (4 GiB). */
export const MAX_FILE_SIZE = 4 * 1024 * 1024 * 1024

/** The header of one chunk. */
export const chunkHeaderSchema = z.strictObject({
  /** Transfer id, random hex, shared by every chunk of one file. */
  id: z.string().regex(/^[0-9a-f]{16,64}$/),
  /** File name (the sender's base name); the receiver sanitises it. */
  name: z.string().min(1).max(255),
  /** Size of the whole file in bytes. */
  size: z.number().int().min(0).max(MAX_FILE_SIZE),
  /** SHA-256 of the whole file, hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Size of every chunk but the last. */
  chunkSize: z.number().int().min(1).max(16 * 1024 * 1024),
  /** Index of this chunk, from 0. */
  index: z.number().int().min(0),
  /** Number of chunks (at least 1: an empty file is one empty chunk). */
  total: z.number().int().min(1),
})

/** The header of one chunk. */
export type ChunkHeader = z.infer<typeof chunkHeaderSchema>

/** A decoded chunk message. */
export interface Chunk {
  readonly header: ChunkHeader
  readonly data: Uint8Array
}

/** The receiver's answer to a chunk: `done` on the chunk that completed the file. */
export const chunkAnswerSchema = z.union([
  z.strictObject({ ok: z.literal(true) }),
  z.strictObject({ done: z.literal(true), path: z.string(), sha256: z.string() }),
])

/** The receiver's answer to a chunk. */
export type ChunkAnswer = z.infer<typeof chunkAnswerSchema>

/** Encode one chunk message. */
export function encodeChunk(header: ChunkHeader, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header))
  const length = Buffer.alloc(2)
  length.writeUInt16BE(json.length)
  return Buffer.concat([MAGIC, length, json, data])
}

/** True when a message is a file chunk (by its magic). */
export function isChunk(message: Uint8Array): boolean {
  return message.byteLength >= MAGIC.length + 2 && Buffer.from(message.buffer, message.byteOffset, MAGIC.length).equals(MAGIC)
}

/**
 * Decode a chunk message.
 *
 * @throws Error saying what is wrong with it.
 */
export function decodeChunk(message: Uint8Array): Chunk {
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength)
  const length = bytes.readUInt16BE(MAGIC.length)
  const start = MAGIC.length + 2
  if (length > MAX_HEADER || start + length > bytes.length) throw new Error('malformed file chunk: bad header length')
  let json: unknown
  try {
    json = JSON.parse(bytes.subarray(start, start + length).toString('utf8'))
  } catch {
    throw new Error('malformed file chunk: header is not JSON')
  }
  const parsed = chunkHeaderSchema.safeParse(json)
  if (!parsed.success) throw new Error(`malformed file chunk: ${parsed.error.issues[0]?.message ?? 'bad header'}`)
  const header = parsed.data
  if (header.index >= header.total) throw new Error('malformed file chunk: index beyond total')
  if (header.total !== chunkCount(header.size, header.chunkSize)) throw new Error('malformed file chunk: total does not match size')
  const data = bytes.subarray(start + length)
  if (data.length !== chunkLength(header, header.index)) throw new Error(`malformed file chunk: chunk ${header.index} has the wrong length`)
  return { header, data }
}

/** Number of chunks of a file. */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize))
}

/** Expected length of chunk `index`. */
export function chunkLength(header: Pick<ChunkHeader, 'size' | 'chunkSize'>, index: number): number {
  return Math.max(0, Math.min(header.chunkSize, header.size - index * header.chunkSize))
}
