/**
 * The sending side of file transfers: offer the file on a `/crust/file/1`
 * stream, stream it from the receiver's offset with the stream's
 * backpressure (constant memory, whatever the size), hash it on the way and
 * send the SHA-256 last. A lost connection is retried, resuming where the
 * receiver's partial file ends.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type CrustStream, isCrustError } from '@crust/core'
import { CliError, ExitCode, FailureError, FileTransferError, messageOf } from '../errors.js'
import { answerSchema, encodeFrame, FILE_PROTOCOL, type FileOffer, FrameError, FrameReader, type Refusal, resultSchema } from './protocol.js'

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
  /** Where the last attempt started (bytes the receiver already had). */
  readonly resumedFrom: number
  /** Attempts it took (1 without a lost connection). */
  readonly attempts: number
}

/** A retry after a lost connection. */
export interface RetryInfo {
  /** The attempt about to start (2 for the first retry). */
  readonly attempt: number
  /** Bytes sent before the connection was lost. */
  readonly sent: number
  readonly reason: string
  /** Wait before the attempt, ms. */
  readonly delay: number
}

/** Opens a file-protocol stream to the receiver (a new connection if the old one is gone). */
export type OpenFileStream = (signal?: AbortSignal) => Promise<CrustStream>

/** Options of {@link sendFile}. */
export interface SendFileOptions {
  /** The name to offer (default: the file's base name). */
  readonly name?: string
  /** Called as bytes are handed to the stream, with the bytes sent so far (from the resume offset). */
  readonly onProgress?: (sent: number, total: number) => void
  /** Called before each retry after a lost connection. */
  readonly onRetry?: (retry: RetryInfo) => void
  readonly signal?: AbortSignal
  /** Retries after a lost connection without progress in between (default 5; 0 disables retrying). */
  readonly retries?: number
  /** First wait before a retry, ms; doubles up to 5 s (default 500). */
  readonly retryDelay?: number
}

/**
 * Send the file at `path` on streams from `open`, retrying a lost
 * connection (resuming at the receiver's offset) up to `options.retries`
 * times in a row without progress.
 *
 * @throws FailureError when the file cannot be read; FileTransferError when the
 *   receiver refuses or fails it (`reason`: `not-allowed`, `too-large`,
 *   `hash-mismatch`, `not-supported`, ...) or the retries are used up; CliError
 *   (exit 130) when interrupted.
 */
export async function sendFile(open: OpenFileStream, path: string, options: SendFileOptions = {}): Promise<SentFile> {
  const started = performance.now()
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new FailureError(`cannot read ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
  })
  if (!info.isFile()) throw new FailureError(`${path} is not a file`)
  const name = options.name ?? basename(path)
  const offer: FileOffer = {
    name,
    size: info.size,
    // The same for every attempt at this file as it is now, so the receiver finds its partial file again.
    id: createHash('sha256').update(`${name}\0${info.size}\0${info.mtimeMs}\0${info.ino}`).digest('hex').slice(0, 32),
  }
  const retries = options.retries ?? 5
  let failures = 0
  let best = -1
  for (let attempt = 1; ; attempt++) {
    let sent = 0
    try {
      const result = await sendOnce(open, path, offer, options, (n) => {
        sent = n
      })
      return { ...result, name, size: info.size, ms: performance.now() - started, attempts: attempt }
    } catch (error) {
      if (options.signal?.aborted) throw new CliError('interrupted', ExitCode.INTERRUPTED)
      if (!retryable(error)) throw error
      // Counted in a row: an attempt that got further than any before starts the count again.
      failures = sent > best ? 1 : failures + 1
      best = Math.max(best, sent)
      if (failures > retries) {
        throw new FileTransferError('connection-lost', `sending ${name} failed ${failures} times in a row (${messageOf(error)}); run it again to resume`)
      }
      const delay = Math.min(5_000, (options.retryDelay ?? 500) * 2 ** (failures - 1))
      options.onRetry?.({ attempt: attempt + 1, sent, reason: messageOf(error), delay })
      await sleep(delay, undefined, { signal: options.signal }).catch(() => {
        throw new CliError('interrupted', ExitCode.INTERRUPTED)
      })
    }
  }
}

type OnceResult = Omit<SentFile, 'name' | 'size' | 'ms' | 'attempts'>

async function sendOnce(
  open: OpenFileStream,
  path: string,
  offer: FileOffer,
  options: SendFileOptions,
  onSent: (sent: number) => void,
): Promise<OnceResult> {
  let stream: CrustStream
  try {
    stream = await open(options.signal)
  } catch (error) {
    if (isCrustError(error, 'ERR_PROTOCOL_NOT_SUPPORTED')) {
      throw new FileTransferError('not-supported', `the peer does not take files (${FILE_PROTOCOL}): it is not a crust start with --inbox`)
    }
    if (isCrustError(error, 'ERR_LIMIT_EXCEEDED')) throw new FileTransferError('busy', `the receiver is busy with other files: ${error.message}`)
    throw error
  }
  const onAbort = (): void => stream.abort()
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const reader = new FrameReader(stream)
    stream.write(encodeFrame(offer))
    const answer = await reader.frame(answerSchema)
    if (!answer.ok) throw refused(answer)
    const offset = answer.offset
    if (offset > offer.size) throw new FileTransferError('bad-offer', `the receiver answered offset ${offset}, beyond the ${offer.size} bytes of ${offer.name}`)
    const hash = createHash('sha256')
    if (offset > 0) await hashInto(hash, path, offset)
    let sent = offset
    onSent(sent)
    options.onProgress?.(sent, offer.size)
    // The file is read only as fast as the stream takes it: memory stays at a few chunks.
    for await (const chunk of createReadStream(path, { start: offset, highWaterMark: 256 * 1024 })) {
      const bytes = chunk as Buffer
      if (sent + bytes.length > offer.size) break
      hash.update(bytes)
      sent += bytes.length
      onSent(sent)
      if (!stream.write(bytes)) await drained(stream)
      options.onProgress?.(sent, offer.size)
    }
    if (sent !== offer.size) throw new FileTransferError('file-changed', `${path} changed size while it was being sent`)
    const sha256 = hash.digest()
    stream.end(sha256)
    const result = await reader.frame(resultSchema)
    if (!result.ok) throw refused(result)
    // Read to the receiver's end, so the stream finishes both ways instead of being reset.
    for await (const _ of reader.rest()) {
    }
    return { peerId: stream.peerId, sha256: result.sha256, savedAs: result.path, transport: stream.connection.transport, resumedFrom: offset }
  } catch (error) {
    stream.abort()
    throw error
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}

function refused(refusal: Refusal): FileTransferError {
  return new FileTransferError(refusal.reason, `the receiver refused the file (${refusal.reason}): ${refusal.message}`)
}

/**
 * Whether a failure is worth another attempt: a lost connection, a reset
 * stream, an unreachable peer (it may be restarting). Not: a refusal, a
 * protocol the peer lacks, a local file problem, an interruption.
 */
function retryable(error: unknown): boolean {
  if (error instanceof FileTransferError) return false
  if (error instanceof FrameError) return true // the stream ended mid-frame: the connection went
  if (error instanceof CliError) return error.exitCode === ExitCode.FAILURE // e.g. cannot reach the peer
  for (const code of ['ERR_ABORTED', 'ERR_CONFIG', 'ERR_BLACKLISTED', 'ERR_AUTHENTICATION', 'ERR_NETWORK_MISMATCH'] as const) {
    if (isCrustError(error, code)) return false
  }
  return true
}

/** Feed the first `length` bytes of `path` into `hash`. */
async function hashInto(hash: Hash, path: string, length: number): Promise<void> {
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1, highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer)
}

/** Resolves when `stream` takes more writes; rejects when it fails or closes first (or already has). */
function drained(stream: CrustStream): Promise<void> {
  // A write to a stream that is already closed returns false too, and 'close' will not come again.
  if (stream.destroyed) return Promise.reject(stream.errored ?? new Error('the stream closed while sending'))
  return new Promise((resolve, reject) => {
    const finish = (error?: Error): void => {
      stream.off('drain', onDrain)
      stream.off('error', finish)
      stream.off('close', onClose)
      if (error) reject(error)
      else resolve()
    }
    const onDrain = (): void => finish()
    const onClose = (): void => finish(stream.errored ?? new Error('the stream closed while sending'))
    stream.on('drain', onDrain)
    stream.on('error', finish)
    stream.on('close', onClose)
  })
}
