/**
 * The sending side of file transfers: hash the file, then send it as 1 MiB
 * chunk requests, a few in flight, each acknowledged by the receiver.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { type Connection, isCrustError } from '@crust/core'
import { FailureError } from '../errors.js'
import { hashFile } from './inbox.js'
import { CHUNK_SIZE, type ChunkAnswer, chunkAnswerSchema, chunkCount, chunkLength, encodeChunk, MAX_FILE_SIZE } from './wire.js'

/** What a finished file transfer reports. */
export interface SentFile {
  readonly peerId: string
  readonly name: string
  readonly size: number
  readonly sha256: string
  /** Where the receiver saved it. */
  readonly savedAs: string
  readonly ms: number
  readonly transport: string
}

/** Options of {@link sendFile}. */
export interface SendFileOptions {
  /** Called as chunks are acknowledged, with the bytes acknowledged so far. */
  readonly onProgress?: (sent: number, total: number) => void
  readonly signal?: AbortSignal
  /** Chunks in flight at once (default 4). */
  readonly window?: number
  /** Deadline of each chunk in ms (default 60 s). */
  readonly chunkTimeout?: number
}

/**
 * Send the file at `path` over `connection`.
 *
 * @throws FailureError when the file cannot be read or the receiver refuses or fails it.
 */
export async function sendFile(connection: Connection, path: string, options: SendFileOptions = {}): Promise<SentFile> {
  const started = performance.now()
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new FailureError(`cannot read ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
  })
  if (!info.isFile()) throw new FailureError(`${path} is not a file`)
  if (info.size > MAX_FILE_SIZE) throw new FailureError(`${path} is larger than the 4 GiB a receiver accepts`)
  const sha256 = await hashFile(path)
  const header = {
    id: randomBytes(8).toString('hex'),
    name: basename(path),
    size: info.size,
    sha256,
    chunkSize: CHUNK_SIZE,
    total: chunkCount(info.size, CHUNK_SIZE),
  }
  const file = await open(path, 'r')
  let acknowledged = 0
  let savedAs: string | undefined
  options.onProgress?.(0, info.size)
  try {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < header.total) {
        const index = next++
        const data = Buffer.alloc(chunkLength(header, index))
        await file.read(data, 0, data.length, index * header.chunkSize)
        const answer = await sendChunk(connection, encodeChunk({ ...header, index }, data), options)
        acknowledged += data.length
        options.onProgress?.(acknowledged, info.size)
        if ('done' in answer) savedAs = answer.path
      }
    }
    const window = Math.max(1, Math.min(options.window ?? 4, header.total))
    await Promise.all(Array.from({ length: window }, worker))
  } finally {
    await file.close()
  }
  if (savedAs === undefined) throw new FailureError('the receiver took every chunk but did not confirm the file')
  return {
    peerId: connection.peerId,
    name: header.name,
    size: info.size,
    sha256,
    savedAs,
    ms: performance.now() - started,
    transport: connection.transport,
  }
}

async function sendChunk(connection: Connection, message: Uint8Array, options: SendFileOptions): Promise<ChunkAnswer> {
  let raw: Uint8Array
  try {
    raw = await connection.request(message, { signal: options.signal, timeout: options.chunkTimeout ?? 60_000 })
  } catch (error) {
    if (isCrustError(error, 'ERR_REMOTE_HANDLER')) throw new FailureError(`the receiver refused the file: ${error.message}`)
    throw error
  }
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(raw).toString('utf8'))
  } catch {
    json = undefined
  }
  const answer = chunkAnswerSchema.safeParse(json)
  if (!answer.success) throw new FailureError('the peer does not take files (is it running crust start?)')
  return answer.data
}
