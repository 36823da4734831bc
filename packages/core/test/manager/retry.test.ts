import { describe, expect, it, vi } from 'vitest'
import { AbortError } from '../../src/errors.js'
import { backoffDelay, type RetryOptions, retryWithBackoff } from '../../src/manager/retry.js'

const fast: RetryOptions = { initialDelay: 5, maxDelay: 20, multiplier: 2, jitter: false, maxElapsed: 5_000, maxAttempts: 5 }

/** An attempt that fails `failures` times, then resolves with the attempt number. */
function flaky(failures: number) {
  return vi.fn(async (n: number) => {
    if (n <= failures) throw new Error(`fail ${n}`)
    return n
  })
}

describe('backoffDelay', () => {
  it('grows by the multiplier and is capped at maxDelay', () => {
    const policy = { initialDelay: 100, maxDelay: 1000, multiplier: 3, jitter: false }
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, policy))).toEqual([100, 300, 900, 1000])
  })

  it('with jitter draws from 0 to the delay', () => {
    const policy = { initialDelay: 100, maxDelay: 1000, multiplier: 2, jitter: true }
    expect(backoffDelay(2, policy, () => 0)).toBe(0)
    expect(backoffDelay(2, policy, () => 0.5)).toBe(100)
    expect(backoffDelay(2, policy, () => 0.999999)).toBe(200)
  })
})

describe('retryWithBackoff', () => {
  it('starts the first attempt within the call, before any promise step (a dial loses no time to the retry loop)', async () => {
    const attempt = flaky(0)
    const result = retryWithBackoff(attempt, fast)
    expect(attempt).toHaveBeenCalledTimes(1)
    await expect(result).resolves.toBe(1)
    const guarded = flaky(0)
    const withSignal = retryWithBackoff(guarded, { ...fast, signal: new AbortController().signal })
    expect(guarded).toHaveBeenCalledTimes(1)
    await expect(withSignal).resolves.toBe(1)
  })

  it('retries until success, numbering attempts from 1', async () => {
    const attempt = flaky(2)
    const onRetry = vi.fn()
    await expect(retryWithBackoff(attempt, { ...fast, onRetry })).resolves.toBe(3)
    expect(attempt.mock.calls.map(([n]) => n)).toEqual([1, 2, 3])
    expect(onRetry.mock.calls.map(([error, n, delay]) => [(error as Error).message, n, delay])).toEqual([
      ['fail 1', 1, 5],
      ['fail 2', 2, 10],
    ])
  })

  it('actually waits the reported delays', async () => {
    const started = performance.now()
    await retryWithBackoff(flaky(2), { ...fast, initialDelay: 20, maxDelay: 50 })
    // 20 + 40 ms of sleep; allow timer slack below.
    expect(performance.now() - started).toBeGreaterThanOrEqual(55)
  })

  it('gives up after maxAttempts and rethrows the last error', async () => {
    const attempt = flaky(Number.POSITIVE_INFINITY)
    const onRetry = vi.fn()
    await expect(retryWithBackoff(attempt, { ...fast, maxAttempts: 3, onRetry })).rejects.toThrow('fail 3')
    expect(attempt).toHaveBeenCalledTimes(3)
    expect(onRetry).toHaveBeenCalledTimes(2)
  })

  it('makes a single attempt when maxAttempts is 1', async () => {
    const attempt = flaky(1)
    await expect(retryWithBackoff(attempt, { ...fast, maxAttempts: 1 })).rejects.toThrow('fail 1')
    expect(attempt).toHaveBeenCalledTimes(1)
  })

  it('stops when the next delay would pass maxElapsed', async () => {
    const attempt = flaky(Number.POSITIVE_INFINITY)
    const started = performance.now()
    // Delays 50, 100, 200...: 50 and 50 + 100 fit in 250 ms, 50 + 100 + 200 does not.
    await expect(
      retryWithBackoff(attempt, { ...fast, initialDelay: 50, maxDelay: 1000, maxElapsed: 250, maxAttempts: 10 }),
    ).rejects.toThrow('fail 3')
    expect(attempt).toHaveBeenCalledTimes(3)
    // Had it slept the third delay it would have taken at least 350 ms.
    expect(performance.now() - started).toBeLessThan(340)
  })

  it('stops at once when shouldRetry returns false', async () => {
    const attempt = flaky(Number.POSITIVE_INFINITY)
    const shouldRetry = vi.fn((error: unknown, _attempt: number) => (error as Error).message !== 'fail 2')
    const onRetry = vi.fn()
    await expect(retryWithBackoff(attempt, { ...fast, shouldRetry, onRetry })).rejects.toThrow('fail 2')
    expect(attempt).toHaveBeenCalledTimes(2)
    expect(shouldRetry.mock.calls.map(([, n]) => n)).toEqual([1, 2])
    expect(onRetry).toHaveBeenCalledTimes(1)
  })

  it('rejects fast when aborted mid-sleep and starts no further attempt', async () => {
    const attempt = flaky(Number.POSITIVE_INFINITY)
    const controller = new AbortController()
    const options = { ...fast, initialDelay: 1000, maxDelay: 1000, signal: controller.signal }
    const result = retryWithBackoff(attempt, { ...options, onRetry: () => setTimeout(() => controller.abort(), 10) })
    const started = performance.now()
    await expect(result).rejects.toBeInstanceOf(AbortError)
    expect(performance.now() - started).toBeLessThan(200)
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(attempt).toHaveBeenCalledTimes(1)
  })

  it('rejects at once when aborted during an attempt, ignoring its outcome', async () => {
    const controller = new AbortController()
    let calls = 0
    const attempt = (): Promise<string> => {
      calls++
      return new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 50))
    }
    const result = retryWithBackoff(attempt, { ...fast, signal: controller.signal })
    setTimeout(() => controller.abort(), 5)
    await expect(result).rejects.toBeInstanceOf(AbortError)
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(calls).toBe(1)
  })

  it('does not start when the signal is already aborted', async () => {
    const attempt = flaky(0)
    await expect(retryWithBackoff(attempt, { ...fast, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
    expect(attempt).not.toHaveBeenCalled()
  })

  it('resolves normally with a signal that never aborts', async () => {
    const controller = new AbortController()
    await expect(retryWithBackoff(flaky(1), { ...fast, signal: controller.signal })).resolves.toBe(2)
  })

  it('jittered delays stay within the computed bound', async () => {
    const delays: number[] = []
    await retryWithBackoff(flaky(4), { ...fast, jitter: true, onRetry: (_e, _n, delay) => delays.push(delay) })
    expect(delays).toHaveLength(4)
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(0)
      expect(delay).toBeLessThanOrEqual(Math.min(5 * 2 ** i, 20))
    })
  })

  it('validates its options', async () => {
    await expect(retryWithBackoff(flaky(0), { ...fast, maxAttempts: 0 })).rejects.toThrow(RangeError)
    await expect(retryWithBackoff(flaky(0), { ...fast, multiplier: 0.5 })).rejects.toThrow(RangeError)
  })
})
