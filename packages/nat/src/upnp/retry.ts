import { setTimeout as sleep } from 'node:timers/promises'
import { UpnpError, asUpnpError } from './errors.js'

/**
 * Run `attempt`, trying again after each wait in `delays` while the failure
 * may pass ({@link UpnpError.retryable}); a bounded number of tries, never a loop.
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: { readonly delays: readonly number[]; readonly signal: AbortSignal; readonly onRetry?: (error: UpnpError, delay: number) => void },
): Promise<T> {
  for (let tried = 0; ; tried++) {
    try {
      return await attempt()
    } catch (error) {
      const failure = asUpnpError(error)
      const delay = options.delays[tried]
      if (!failure.retryable || delay === undefined || options.signal.aborted) throw failure
      options.onRetry?.(failure, delay)
      try {
        await sleep(delay, undefined, { signal: options.signal })
      } catch {
        throw new UpnpError('aborted', 'stopped')
      }
    }
  }
}
