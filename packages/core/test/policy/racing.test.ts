import { describe, expect, it, vi } from 'vitest'
import { TimeoutError } from '../../src/errors.js'
import { Net, fakeClocks } from './helpers.js'

const STAGGER = 250

/** A node listening on two memory addresses, and a dialler. */
async function twoAddressPeer(net: Net) {
  const b = await net.node({ listen: ['memory://127.0.0.1:0', 'memory://127.0.0.1:0'] })
  const [first, second] = b.addresses as [string, string]
  const a = await net.node({ retry: { maxAttempts: 1 }, connection: { dialStagger: STAGGER } })
  return { a, b, first, second }
}

describe('address racing (memory transport)', () => {
  it('starts the next address after dialStagger, keeps the fastest, and leaves nothing of the loser', async () => {
    fakeClocks()
    const net = new Net()
    const { a, b, first, second } = await twoAddressPeer(net)
    net.network.delay(first, 5_000) // the first address answers only after 5 s
    const connecting = a.connect({ peerId: b.peerId, addresses: [first, second] })
    await vi.advanceTimersByTimeAsync(STAGGER - 1)
    expect(net.network.dials.map((d) => d.to)).toEqual([first]) // the second waits its turn
    await vi.advanceTimersByTimeAsync(1)
    const connection = await connecting
    expect(net.network.dials.map((d) => d.to)).toEqual([first, second])
    expect(connection.remoteAddress).toBe(second)
    expect(Date.now() - (net.network.dials[0]?.at ?? 0)).toBe(STAGGER) // not the 5 s of the slow one
    // The slow dial was cancelled: when its 5 s are up nothing reaches b.
    await vi.advanceTimersByTimeAsync(10_000)
    expect(net.network.connections()).toHaveLength(1)
    expect(b.connections).toHaveLength(1)
    expect(a.connections).toEqual([connection])
  })

  it('moves to the next address at once when one is refused', async () => {
    fakeClocks()
    const net = new Net()
    const { a, b, first, second } = await twoAddressPeer(net)
    net.network.refuse(first)
    const connection = await a.connect({ peerId: b.peerId, addresses: [first, second] })
    expect(connection.remoteAddress).toBe(second)
    expect(net.network.dials.map((d) => [d.to, d.at - (net.network.dials[0]?.at ?? 0)])).toEqual([
      [first, 0],
      [second, 0],
    ])
  })

  it('a peer that never answers fails with TimeoutError after dialTimeout', async () => {
    fakeClocks()
    const net = new Net()
    const b = await net.node()
    const a = await net.node({ retry: { maxAttempts: 1 }, connection: { dialTimeout: 4_000 } })
    const [address] = b.addresses as [string]
    net.network.blackhole(address)
    const failing = a.connect({ peerId: b.peerId, addresses: [address] }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(3_999)
    expect(await Promise.race([failing, 'pending'])).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    const error = await failing
    expect(error).toBeInstanceOf(TimeoutError)
    expect(a.connections).toHaveLength(0)
  })
})
