import { type Server, createServer } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { relay, relayServer } from '../src/relay/index.js'
import { contactOf, serviceEvents, startNode } from './relay-helpers.js'

/**
 * Verification (already bounded before issue 11): a relayed peer claiming 32
 * third parties' addresses makes the upgrader dial at most 4 of them per
 * attempt, for a bounded number of attempts.
 */

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

async function counter(host: string): Promise<{ address: string; hits: () => number }> {
  let hits = 0
  const server = createServer((socket) => {
    hits++
    socket.destroy()
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return { address: `tcp://${host}:${(server.address() as { port: number }).port}`, hits: () => hits }
}

describe('relay upgrade: a peer cannot aim our dials at many third parties', () => {
  it('32 claimed third-party addresses: at most 4 dialled per attempt', async () => {
    const victims = await Promise.all(Array.from({ length: 32 }, (_, i) => counter(`127.0.0.${2 + (i % 8)}`)))
    // R's own dial-back of B's claim (the core's reachability check, up to 3 addresses) is not what this test counts.
    const r = await startNode({ services: [relayServer()], reachability: { check: 'off' } })
    const a = await startNode({ role: 'client', services: [relay({ upgrade: { delay: 50, maxAttempts: 2, multiplier: 1 } })] })
    const b = await startNode({
      services: [relay({ upgrade: false })],
      externalAddresses: victims.map((v) => v.address),
      reachability: { check: 'off' },
    })
    const events = serviceEvents(a, 'relay')
    await Promise.all([a.connect(contactOf(r)), b.connect(contactOf(r))])
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
    let event = await events.next(8000, 'upgrade:failed')
    while (event.type !== 'upgrade:failed') event = await events.next(8000, 'upgrade:failed')
    const dials = victims.reduce((sum, v) => sum + v.hits(), 0)
    expect(victims.filter((v) => v.hits() > 0).length).toBeLessThanOrEqual(4)
    expect(dials).toBeLessThanOrEqual(4 * 2)
  })
})
