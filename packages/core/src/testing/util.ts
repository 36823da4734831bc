import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import type { TransportStream } from '../transport/types.js'

/** Default of how long the suite waits for something that should happen promptly (an inbound connection, a close). */
export const DEFAULT_EVENT_TIMEOUT = 5_000

function noop(): void {}

/** Mark `promise` as handled (its rejection is still seen by whoever awaits it) and return it. */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(noop)
  return promise
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** `promise`, or a rejection naming `what` if it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** True when `promise` settles (either way) within `ms`. Never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  const settled = promise.then(
    () => true,
    () => true,
  )
  try {
    return await Promise.race([settled, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Poll until `condition()` holds; reject naming `what` after `ms`. */
export async function waitUntil(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(10)
  }
}

/** Read a stream to its end and return everything as one buffer. */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Hex sha256 of what a stream delivers, and its length; nothing is kept in memory. */
export async function digestStream(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256')
  let length = 0
  for await (const chunk of stream) {
    hash.update(chunk)
    length += chunk.length
  }
  return { sha256: hash.digest('hex'), length }
}

/** Hex sha256 of `chunks`, in order. */
export function sha256(...chunks: Uint8Array[]): string {
  const hash = createHash('sha256')
  for (const chunk of chunks) hash.update(chunk)
  return hash.digest('hex')
}

/** `n` random bytes. */
export function randomData(n: number): Buffer {
  return randomBytes(n)
}

/**
 * Echo a bidirectional stream: every chunk read is written back, and the
 * write side ends after the reader's FIN. Failures (resets at teardown) are
 * swallowed; tests check what the other side receives.
 */
export async function echo(stream: TransportStream): Promise<void> {
  try {
    for await (const chunk of stream) await stream.write(chunk)
    await stream.end()
  } catch {
    // the test decides whether this matters
  }
}

/** What an error is expected to be: the class name and the stable `code` of `@crust/core`'s errors. */
export interface ExpectedError {
  readonly name: string
  readonly code: string
}

/** The `code` property of an error, if it is a string. */
export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/** Describe an error for an assertion message. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `non-error ${String(error)}`
  return `${error.name}${codeOf(error) ? ` [${codeOf(error)}]` : ''}: ${error.message}`
}

/**
 * Assert `error` is the expected typed error, by name and code (not by
 * `instanceof`, so a plugin bundling its own copy of `@crust/core` passes).
 */
export function assertTypedError(error: unknown, expected: ExpectedError, what: string): void {
  assert.ok(error instanceof Error, `${what}: expected ${expected.name}, got ${describeError(error)}`)
  assert.equal(error.name, expected.name, `${what}: expected ${expected.name}, got ${describeError(error)}`)
  assert.equal(codeOf(error), expected.code, `${what}: expected code ${expected.code}, got ${describeError(error)}`)
}

/**
 * Await `promise`, which must reject within `ms`; returns the error. Fails
 * when it resolves (`onResolved` gets the value, e.g. to close a connection
 * that should not exist) or hangs.
 */
export async function rejection<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  onResolved?: (value: T) => Promise<void> | void,
): Promise<unknown> {
  const TIMED_OUT = Symbol('timed out')
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms)
  })
  const outcome = await Promise.race([
    promise.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    timeout,
  ]).finally(() => clearTimeout(timer))
  if (outcome === TIMED_OUT) {
    // Clean up whatever it resolves to later (a connection that should not exist).
    promise.then(async (value) => onResolved?.(value)).catch(noop)
    throw new assert.AssertionError({ message: `${what}: neither resolved nor rejected within ${ms} ms` })
  }
  if (!outcome.ok) return outcome.error
  await onResolved?.(outcome.value)
  throw new assert.AssertionError({ message: `${what}: expected a rejection, but it resolved` })
}

/** A pending read that was started now: resolves `'end'`, `'error'` or `'data'` once it settles. */
export function pendingRead(iterator: AsyncIterator<Uint8Array>): Promise<'end' | 'error' | 'data'> {
  return iterator.next().then(
    (result) => (result.done === true ? 'end' : 'data'),
    () => 'error',
  )
}
