/**
 * A caller may stop waiting for work that must run to its end anyway: a
 * dial attempt whose HELLO went out (the peer may have pooled it and, by
 * the tie-break, kept it in place of the connection both ends had).
 *
 * @packageDocumentation
 */
import { AbortError } from '../errors.js'

/**
 * Wait for `work` unless `signal` aborts first: then the caller hears
 * `AbortError` at once, `work` runs on, and its result, if it succeeds, goes
 * to the handler `abandoned` returns (a failure is the work's own to clean
 * up). `abandoned` is called at the moment of abandonment, so the handler can
 * act on what held then (e.g. the connection a dial stood beside, which the
 * peer may since have retired in favour of this one).
 */
export function unlessAbandoned<T>(work: Promise<T>, signal: AbortSignal, abandoned: () => (value: T) => void): Promise<T> {
  const adopt = (): void => void work.then(abandoned(), () => {})
  if (signal.aborted) {
    adopt()
    return Promise.reject(new AbortError())
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(new AbortError())
      adopt()
    }
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}
