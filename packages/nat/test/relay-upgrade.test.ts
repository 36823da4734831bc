import { describe, expect, it } from 'vitest'
import { relay, relayServer } from '../src/relay/index.js'
import { contactOf, serviceEvents, startNode, waitFor } from './relay-helpers.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('relay: upgrade to a direct path', () => {
  it.each([
    { name: 'both ends listen', aRole: 'node' as const },
    { name: 'only B listens (A behind NAT)', aRole: 'client' as const },
  ])('replaces the relayed connection by a direct one ($name); calls issued during the switch all succeed', async ({ aRole }) => {
    const upgrade = { delay: 300, maxAttempts: 3 }
    const r = await startNode({ services: [relayServer({ maxBytesPerSecond: 0 })] })
    const circuits = serviceEvents(r, 'relay-server')
    // B listens, but A only knows its peer id: the first connection goes through R.
    const a = await startNode({ role: aRole, services: [relay({ upgrade })] })
    const b = await startNode({ services: [relay({ upgrade })] })
    await Promise.all([a.connect(contactOf(r)), b.connect(contactOf(r))])
    // Slow answers keep requests in flight while the path changes.
    a.handle(async (message) => {
      await sleep(40)
      return message.isRequest ? message.data : undefined
    })
    b.handle(async (message) => {
      await sleep(40)
      return message.isRequest ? message.data : undefined
    })

    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
    await waitFor(() => b.getConnection(a.peerId) !== undefined, 5000, 'B to pool A')
    const back = b.getConnection(a.peerId)!

    const calls: Array<Promise<Uint8Array>> = []
    let n = 0
    const deadline = performance.now() + 1500
    while (performance.now() < deadline) {
      const payload = Buffer.from(`call-${n++}`)
      // Both directions, on the connection objects taken before the switch.
      calls.push(connection.request(payload), back.request(payload))
      await sleep(15)
    }
    const answers = await Promise.allSettled(calls)
    const failed = answers.filter((answer) => answer.status === 'rejected')
    expect(failed.map((f) => String((f as PromiseRejectedResult).reason))).toEqual([])

    expect(a.getConnection(b.peerId)?.method).toBe('direct')
    expect(b.getConnection(a.peerId)?.method).toBe('direct')
    expect(a.connections.filter((c) => c.peerId === b.peerId)).toHaveLength(1)
    // The relayed connection was retired in order and its circuit freed.
    await waitFor(() => circuits.items.some((e) => e.type === 'circuit:close'), 12_000, 'the circuit to close')
    expect(circuits.items.find((e) => e.type === 'circuit:close')?.message).toMatch(/closed after/)
    // Later calls run on the direct connection.
    expect(Buffer.from(await connection.request(Buffer.from('after'))).toString()).toBe('after')
  })

  it('gives up after the bounded number of attempts when no direct path appears', async () => {
    const r = await startNode({ services: [relayServer()] })
    const a = await startNode({ role: 'client', services: [relay({ upgrade: { delay: 50, maxAttempts: 2, multiplier: 1 } })] })
    // B claims an address nobody listens on (it advertises a dead external address).
    const b = await startNode({
      services: [relay({ upgrade: false })],
      externalAddresses: ['tcp://127.0.0.1:9'],
      reachability: { check: 'off' },
    })
    const events = serviceEvents(a, 'relay')
    await Promise.all([a.connect(contactOf(r)), b.connect(contactOf(r))])
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
    const failed = await events.next(5000, 'upgrade:failed').then(async (first) =>
      first.type === 'upgrade:failed' ? first : events.next(5000, 'upgrade:failed'),
    )
    expect(failed.type).toBe('upgrade:failed')
    expect(failed.message).toMatch(/after 2 attempts/)
    expect(a.getConnection(b.peerId)?.method).toBe('relayed')
  })
})
