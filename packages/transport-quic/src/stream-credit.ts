import { AbortError } from '@crust/core'

interface Waiter {
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/**
 * Waiters for the peer's stream credit (MAX_STREAMS). The library has no
 * event for it, so the connection calls {@link recheck} after every datagram
 * it processed while someone waits; waiters then look at quiche's
 * `peer_streams_left_*` again. Never opening a stream without credit matters:
 * after one `ErrorQUICStreamLimit` the library's stream-id bookkeeping is
 * corrupt and every later `newStream()` on the connection throws.
 */
export class StreamCredit {
  private readonly waiters = new Set<Waiter>()
  /** Set once the connection closed: makes the error later waits fail with. */
  private failure: (() => Error) | undefined

  /** True while someone waits: only then is credit worth re-checking after a datagram. */
  get waiting(): boolean {
    return this.waiters.size > 0
  }

  /** Resolve at the next {@link recheck} (or rejects on abort / {@link fail}). */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.failure) return Promise.reject(this.failure())
    if (signal?.aborted) return Promise.reject(new AbortError())
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(waiter)
        reject(new AbortError())
      }
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      this.waiters.add(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Wake every waiter so it re-reads the credit. */
  recheck(): void {
    const waiting = [...this.waiters]
    this.waiters.clear()
    for (const waiter of waiting) waiter.resolve()
  }

  /**
   * The connection closed: fail current and later waits with the error
   * `failure` makes (built only when someone waits: most connections close
   * with nobody waiting for credit).
   */
  fail(failure: () => Error): void {
    this.failure = failure
    if (this.waiters.size === 0) return
    const error = failure()
    const waiting = [...this.waiters]
    this.waiters.clear()
    for (const waiter of waiting) waiter.reject(error)
  }
}
