/**
 * Retry with exponential backoff, a total time budget and cancellation.
 *
 * The attempt loop and attempt counting come from the `exponential-backoff`
 * package. The sleep between attempts is done here instead, inside the
 * package's (async) `retry` callback: the package's own sleep is a plain
 * timer that can neither be cancelled nor observed, so it would keep the
 * process alive after an abort and could not report the jittered delay it
 * chose to `onRetry` or check it against `maxElapsed`.
 *
 * @packageDocumentation
 */
import { backOff } from 'exponential-backoff'
import { sleepUnlessAborted } from '../events/sleep.js'
import { AbortError } from '../errors.js'

/** Backoff timing, the same fields as the node config's `retry` section. All times in ms. */
export interface BackoffPolicy {
  /** Delay after the first failed attempt. */
  readonly initialDelay: number
  /** Upper bound of any single delay. */
  readonly maxDelay: number
  /** Each delay is the previous one times this (≥ 1). */
  readonly multiplier: number
  /** Full jitter: each delay is drawn uniformly from 0 to the computed delay. */
  readonly jitter: boolean
  /** Total time budget: no retry is scheduled whose delay would end past it. `Infinity` disables. */
  readonly maxElapsed: number
  /** Most attempts in total, the first included (≥ 1). */
  readonly maxAttempts: number
}

/** Options for {@link retryWithBackoff}. */
export interface RetryOptions extends BackoffPolicy {
  /** Aborting rejects at once with `AbortError`, even mid-sleep, and no further attempt starts. */
  readonly signal?: AbortSignal
  /** Return false to give up on `error` immediately (rethrowing it). `attempt` is the 1-based number that failed. */
  readonly shouldRetry?: (error: unknown, attempt: number) => boolean
  /** Called before sleeping `delayMs` ahead of the next attempt; `attempt` is the 1-based number that failed. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void
}

/**
 * The delay before the attempt after failed attempt number `failed` (1-based):
 * `initialDelay × multiplier^(failed − 1)`, capped at `maxDelay`, then with
 * full jitter if enabled. The same schedule as `exponential-backoff`.
 */
export function backoffDelay(
  failed: number,
  policy: Pick<BackoffPolicy, 'initialDelay' | 'maxDelay' | 'multiplier' | 'jitter'>,
  random: () => number = Math.random,
): number {
  const delay = Math.min(policy.initialDelay * policy.multiplier ** (failed - 1), policy.maxDelay)
  return policy.jitter ? Math.round(random() * delay) : delay
}

/**
 * Run `attempt` until it resolves, retrying failures with exponential backoff.
 * `attempt` receives the 1-based attempt number. When retries run out
 * (`maxAttempts`, `maxElapsed`, or `shouldRetry` returning false) the last
 * error is rethrown unchanged.
 *
 * @throws `AbortError` when `signal` aborts (before or during the retries).
 * @throws RangeError for invalid timing options.
 */
export async function retryWithBackoff<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  validate(options)
  const { signal, shouldRetry, onRetry, maxAttempts, maxElapsed } = options
  if (signal?.aborted) throw new AbortError()
  const started = performance.now()
  let attempts = 0

  const next = (): Promise<T> => {
    // A last guard: after an abort the result is already settled, so never start more work.
    if (signal?.aborted) return Promise.reject(new AbortError())
    attempts++
    return attempt(attempts)
  }
  /** Whether to try again after attempt `failed` failed with `error`; sleeps the backoff first. */
  const retry = async (error: unknown, failed: number): Promise<boolean> => {
    if (signal?.aborted || failed >= maxAttempts) return false
    if (shouldRetry !== undefined && !shouldRetry(error, failed)) return false
    const delay = backoffDelay(failed, options)
    if (performance.now() - started + delay > maxElapsed) return false
    onRetry?.(error, failed, delay)
    await sleepUnlessAborted(delay, signal)
    return signal?.aborted !== true
  }
  const run = (async (): Promise<T> => {
    // The first attempt directly: most succeed, and the package's loop takes some ten promise steps
    // before it starts one (on a connect's path, measured ~40 µs).
    try {
      return await next()
    } catch (error) {
      if (!(await retry(error, 1))) throw error
    }
    return backOff(next, {
      numOfAttempts: maxAttempts - 1,
      // The package sleeps 0 ms; the real, cancellable delay happens in `retry` above.
      startingDelay: 0,
      jitter: 'none',
      delayFirstAttempt: false,
      // The package counts from our second attempt.
      retry: (error: unknown, failed: number) => retry(error, failed + 1),
    })
  })()
  if (signal === undefined) return run

  let removeListener = (): void => {}
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = (): void => reject(new AbortError())
    signal.addEventListener('abort', onAbort, { once: true })
    removeListener = () => signal.removeEventListener('abort', onAbort)
  })
  try {
    // Racing keeps `run`'s eventual rejection handled after an abort won.
    return await Promise.race([run, aborted])
  } finally {
    removeListener()
  }
}

function validate(options: BackoffPolicy): void {
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new RangeError(`retryWithBackoff: ${message}`)
  }
  check(Number.isInteger(options.maxAttempts) && options.maxAttempts >= 1, 'maxAttempts must be an integer ≥ 1')
  check(Number.isFinite(options.initialDelay) && options.initialDelay >= 0, 'initialDelay must be ≥ 0')
  check(options.maxDelay >= 0, 'maxDelay must be ≥ 0')
  check(Number.isFinite(options.multiplier) && options.multiplier >= 1, 'multiplier must be ≥ 1')
  check(options.maxElapsed >= 0, 'maxElapsed must be ≥ 0')
}
