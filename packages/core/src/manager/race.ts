import { AbortError } from '../errors.js'

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
          failures.push({ candidate, error: error instanceof Error ? error : new Error(String(error)) })
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
