import { describe, expect, it, vi } from 'vitest'
import { Net, addressOf, contactOf, fakeClocks, waitFor } from './helpers.js'

describe('pool (memory transport)', () => {
  it('reuses the pooled connection: a second connect dials nothing', async () => {
    const net = new Net()
    const [a, b] = [await net.node(), await net.node()]
    const first = await a.connect(contactOf(b))
    const second = await a.connect(contactOf(b))
    expect(second).toBe(first)
    expect(net.network.dialCount(addressOf(b))).toBe(1)
    expect(a.connections).toHaveLength(1)
  })

  it('shares one dial among concurrent connects to the same peer', async () => {
    const net = new Net()
    const [a, b] = [await net.node(), await net.node()]
    const connections = await Promise.all(Array.from({ length: 10 }, () => a.connect(contactOf(b))))
    expect(new Set(connections).size).toBe(1)
    expect(net.network.dialCount()).toBe(1)
    await waitFor(() => b.connections.length === 1)
    expect(net.network.connections()).toHaveLength(1)
  })

  it('ends a simultaneous open with exactly one connection, the same pair on both sides, and both handles work', async () => {
    fakeClocks() // the loser is retired after a grace period: skip it rather than wait it out
    for (let round = 0; round < 20; round++) {
      const net = new Net()
      const [a, b] = [await net.node(), await net.node()]
      b.handle((m) => (m.isRequest ? Buffer.from('from b') : undefined))
      a.handle((m) => (m.isRequest ? Buffer.from('from a') : undefined))
      const [ab, ba] = await Promise.all([a.connect(contactOf(b)), b.connect(contactOf(a))])
      expect(net.network.dialCount()).toBe(2) // both really dialled: it was a simultaneous open
      await vi.advanceTimersByTimeAsync(1_000)
      expect(net.network.connections()).toHaveLength(1)
      expect(a.connections).toHaveLength(1)
      expect(b.connections).toHaveLength(1)
      const [onA] = a.connections
      const [onB] = b.connections
      expect(onA?.localAddress).toBe(onB?.remoteAddress)
      expect(onA?.remoteAddress).toBe(onB?.localAddress)
      // The tie-break keeps the connection dialled by the higher peer id, on both sides.
      const dialledByHigher = a.peerId > b.peerId ? onA?.direction === 'outbound' : onA?.direction === 'inbound'
      expect(dialledByHigher).toBe(true)
      expect(Buffer.from(await ab.request(Buffer.from('?'))).toString()).toBe('from b')
      expect(Buffer.from(await ba.request(Buffer.from('?'))).toString()).toBe('from a')
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('a dropped connection leaves the pool on both sides, and the next connect dials again', async () => {
    const net = new Net()
    const [a, b] = [await net.node(), await net.node()]
    const first = await a.connect(contactOf(b))
    await waitFor(() => b.connections.length === 1)
    expect(net.network.drop(b.peerId)).toBe(1)
    await first.closed
    await waitFor(() => a.connections.length === 0 && b.connections.length === 0)
    const second = await a.connect(contactOf(b))
    expect(second).not.toBe(first)
    expect(net.network.dialCount(addressOf(b))).toBe(2)
  })
})
