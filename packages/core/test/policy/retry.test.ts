import { describe, expect, it, vi } from 'vitest'
import { AuthenticationError, DialError } from '../../src/errors.js'
import { Net, addressOf, fakeClocks } from './helpers.js'

const retry = { initialDelay: 1_000, maxDelay: 4_000, multiplier: 2, jitter: false, maxElapsed: 60_000, maxAttempts: 6 }

/**
 * Check the gaps between the dials to `address` are `delays` (ms). Each may
 * be up to 2 ms longer: the backoff library takes one zero-delay timer tick
 * (1 ms) per attempt on top of the core's own sleep.
 */
function expectDialGaps(net: Net, address: string, delays: number[]): void {
  const times = net.network.dials.filter((d) => d.to === address).map((d) => d.at)
  const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0))
  expect(gaps).toHaveLength(delays.length)
  for (const [i, gap] of gaps.entries()) {
    expect(gap, `gap ${i + 1} of ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(delays[i] ?? 0)
    expect(gap, `gap ${i + 1} of ${gaps.join(', ')} ms`).toBeLessThanOrEqual((delays[i] ?? 0) + 2)
  }
}

describe('retries with backoff (memory transport)', () => {
  it('retries a refused dial after 1, 2, 4, 4 s and connects once the peer answers', async () => {
    fakeClocks()
    const net = new Net()
    const b = await net.node()
    const a = await net.node({ retry })
    const address = addressOf(b)
    const retries: Array<[number, number]> = []
    a.on('dial:retry', ({ attempt, delay }) => retries.push([attempt, delay]))
    net.network.refuse(address)
    const connecting = a.connect({ peerId: b.peerId, addresses: [address] })
    connecting.catch(() => {}) // awaited below; a failed assertion first must not leave it unhandled
    await vi.advanceTimersByTimeAsync(1_000 + 2_000 + 4_000 + 3_990)
    expectDialGaps(net, address, [1_000, 2_000, 4_000])
    net.network.heal(address) // the peer comes up before the fifth attempt
    await vi.advanceTimersByTimeAsync(20)
    const connection = await connecting
    expect(connection.peerId).toBe(b.peerId)
    expectDialGaps(net, address, [1_000, 2_000, 4_000, 4_000])
    expect(retries).toEqual([
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [4, 4_000],
    ])
  })

  it('gives up after maxAttempts with a DialError', async () => {
    fakeClocks()
    const net = new Net()
    const b = await net.node()
    const a = await net.node({ retry: { ...retry, maxAttempts: 3 } })
    const address = addressOf(b)
    net.network.refuse(address)
    const failing = a.connect({ peerId: b.peerId, addresses: [address] }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(await failing).toBeInstanceOf(DialError)
    expectDialGaps(net, address, [1_000, 2_000])
  })

  it('does not retry a permanent failure (the wrong peer answers): one dial, AuthenticationError', async () => {
    fakeClocks()
    const net = new Net()
    const [b, c] = [await net.node(), await net.node()]
    const a = await net.node({ retry })
    const retried = vi.fn()
    a.on('dial:retry', retried)
    const failing = a.connect({ peerId: c.peerId, addresses: [addressOf(b)] }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(await failing).toBeInstanceOf(AuthenticationError)
    expect(net.network.dialCount()).toBe(1)
    expect(retried).not.toHaveBeenCalled()
  })

  it('stops retrying at once when the caller aborts mid-backoff', async () => {
    fakeClocks()
    const net = new Net()
    const b = await net.node()
    const a = await net.node({ retry })
    const address = addressOf(b)
    net.network.refuse(address)
    const controller = new AbortController()
    const failing = a.connect({ peerId: b.peerId, addresses: [address] }, { signal: controller.signal }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(1_500) // two dials, sleeping before the third
    controller.abort()
    expect(await failing).toMatchObject({ code: 'ERR_ABORTED' })
    await vi.advanceTimersByTimeAsync(60_000)
    expectDialGaps(net, address, [1_000])
  })
})
