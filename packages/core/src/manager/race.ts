import { AbortError } from '../errors.js'
import { asError } from '../error-text.js'

/** One candidate's failure, as reported when every candidate failed. */
export interface RaceFailure<C> {
  readonly candidate: C
  readonly error: Error
}

/** Thrown by {@link raceStaggered} when every candidate failed. */
export class RaceFailedError<C> extends Error {
  constructor(readonly failures: ReadonlyArray<RaceFailure<C>>) {
    super('every candidate failed')
  }
}

/**
 * Happy-Eyeballs racing: start the first candidate, start the next one when the
 * previous fails or has not succeeded within `staggerMs` (0 = all at once).
 * The first success wins; every other attempt is aborted and any late success
 * is handed to `dispose`. Rejects with {@link RaceFailedError} listing every
 * failure, or `AbortError` if `signal` aborts.
 */
export async function raceStaggered<C, T>(
  candidates: readonly C[],
  attempt: (candidate: C, signal: AbortSignal) => Promise<T>,
  options: { staggerMs: number; signal?: AbortSignal; dispose: (value: T) => void },
): Promise<T> {
  if (options.signal?.aborted) throw new AbortError()
  const controllers = candidates.map(() => new AbortController())
  const failures: RaceFailure<C>[] = []
  return new Promise<T>((resolve, reject) => {
    let next = 0
    let settled = false
    let timer: NodeJS.Timeout | undefined
    const finish = (winner?: AbortController): void => {
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      for (const controller of controllers) if (controller !== winner) controller.abort()
    }
    const onAbort = (): void => {
      if (settled) return
      finish()
      reject(new AbortError())
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const startNext = (): void => {
      clearTimeout(timer)
      if (settled || next >= candidates.length) return
      const index = next++
      const candidate = candidates[index] as C
      const controller = controllers[index] as AbortController
      attempt(candidate, controller.signal).then(
        (value) => {
          if (settled) {
            options.dispose(value)
            return
          }
          finish(controller)
          resolve(value)
        },
        (error: unknown) => {
          if (settled) return
          failures.push({ candidate, error: asError(error) })
          if (failures.length === candidates.length) {
            finish()
            reject(new RaceFailedError(failures))
          } else {
            startNext()
          }
        },
      )
      if (next < candidates.length) {
        if (options.staggerMs <= 0) startNext()
        else timer = setTimeout(startNext, options.staggerMs)
      }
    }
    if (candidates.length === 0) {
      finish()
      reject(new RaceFailedError<C>([]))
      return
    }
    startNext()
  })
}

/**
 * Try candidates with at most `limit` attempts running at once; the first
 * success wins, the rest are aborted and late successes handed to `dispose`.
 * Rejects with {@link RaceFailedError} when every candidate failed, or
 * `AbortError` when `signal` aborts (the failures so far are then lost to the
 * caller, who knows why it aborted).
 */
export async function raceLimited<C, T>(
  candidates: readonly C[],
  attempt: (candidate: C, signal: AbortSignal) => Promise<T>,
  options: { limit: number; signal?: AbortSignal; dispose: (value: T) => void; onFailure?: (failure: RaceFailure<C>) => void },
): Promise<{ candidate: C; value: T }> {
  if (options.signal?.aborted) throw new AbortError()
  const controllers = new Set<AbortController>()
  const failures: RaceFailure<C>[] = []
  return new Promise((resolve, reject) => {
    let next = 0
    let running = 0
    let settled = false
    const finish = (): void => {
      settled = true
      options.signal?.removeEventListener('abort', onAbort)
      for (const controller of controllers) controller.abort()
    }
    const onAbort = (): void => {
      if (settled) return
      finish()
      reject(new AbortError())
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const launch = (): void => {
      while (!settled && running < options.limit && next < candidates.length) {
        const candidate = candidates[next++] as C
        const controller = new AbortController()
        controllers.add(controller)
        running++
        attempt(candidate, controller.signal).then(
          (value) => {
            running--
            controllers.delete(controller)
            if (settled) {
              options.dispose(value)
              return
            }
            finish()
            resolve({ candidate, value })
          },
          (error: unknown) => {
            running--
            controllers.delete(controller)
            if (settled) return
            const failure = { candidate, error: asError(error) }
            failures.push(failure)
            options.onFailure?.(failure)
            if (failures.length === candidates.length) {
              finish()
              reject(new RaceFailedError(failures))
            } else launch()
          },
        )
      }
    }
    if (candidates.length === 0) {
      finish()
      reject(new RaceFailedError<C>([]))
      return
    }
    launch()
  })
}
