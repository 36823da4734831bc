import { randomBytes } from 'node:crypto'
import { CloseCode, type CrustNode, DialError, type NodeEvents } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { RelayError, relay, relayServer } from '../src/relay/index.js'
import { contactOf, serviceEvents, startNode, triangle, waitFor } from './relay-helpers.js'

/** The error the relay connector gave, out of the manager's DialError. */
function viaRelay(error: unknown): RelayError {
  const failure = error instanceof DialError ? error.errors.find((f) => f.address === 'via relay')?.error : undefined
  if (!(failure instanceof RelayError)) throw new Error(`expected a RelayError via relay, got ${String(failure ?? error)}`)
  return failure
}

/** The next close of `node`'s connection to `peerId`. */
function nextClose(node: CrustNode, peerId: string): Promise<NodeEvents['connection:close']> {
  return new Promise((resolve) => {
    const off = node.on('connection:close', (event) => {
      if (event.peerId !== peerId) return
      off()
      resolve(event)
    })
  })
}

async function relayClient(r: CrustNode): Promise<CrustNode> {
  const node = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
  await node.connect(contactOf(r))
  return node
}

describe('relay: limits', () => {
  it('refuses circuits beyond the per-peer and the total limits, with typed reasons', async () => {
    const { r, a, b } = await triangle({ server: { maxCircuits: 2, maxCircuitsPerPeer: 1 } })
    const d = await relayClient(r)
    await a.connect({ peerId: b.peerId, addresses: [] })

    // A already holds its one circuit.
    const perPeer = viaRelay(await a.connect({ peerId: d.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(perPeer.reason).toBe('limit')
    expect(perPeer.limit).toBe('peer-circuits')

    // D's first circuit fills the relay; B's would be the third.
    await d.connect({ peerId: a.peerId, addresses: [] })
    const total = viaRelay(await b.connect({ peerId: d.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(total.reason).toBe('limit')
    expect(total.limit).toBe('circuits')

    // Refusals cost nothing that stays: the circuits still carry traffic, and a freed slot is reusable.
    b.handle(() => Buffer.from('ok'))
    expect(Buffer.from(await a.getConnection(b.peerId)!.request(Buffer.from('x'))).toString()).toBe('ok')
    await a.getConnection(b.peerId)!.close()
    await waitFor(() => b.getConnection(a.peerId) === undefined, 5000, 'B to see A go')
    await waitFor(() => a.getConnection(b.peerId) === undefined, 5000, 'A to forget B')
    const again = await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false })
    expect(again.method).toBe('relayed')
  })

  it('limits circuit requests per peer per interval', async () => {
    const { r, a } = await triangle({ server: { circuitRate: { circuits: 2, intervalMs: 60_000 } } })
    const targets = [await relayClient(r), await relayClient(r), await relayClient(r)]
    await a.connect({ peerId: targets[0]!.peerId, addresses: [] })
    await a.connect({ peerId: targets[1]!.peerId, addresses: [] })
    const error = viaRelay(await a.connect({ peerId: targets[2]!.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(error.reason).toBe('limit')
    expect(error.limit).toBe('peer-rate')
  })

  it('resets a circuit that exceeds its byte allowance; both ends get the typed reason', async () => {
    const { a, b } = await triangle({ server: { maxCircuitBytes: 256 * 1024 } })
    b.handle(() => undefined)
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    await waitFor(() => b.getConnection(a.peerId) !== undefined, 5000, 'B to pool A')
    const closedOnA = nextClose(a, b.peerId)
    const closedOnB = nextClose(b, a.peerId)
    await connection.send(randomBytes(1024 * 1024)).catch(() => {})
    const [onA, onB] = await Promise.all([closedOnA, closedOnB])
    for (const event of [onA, onB]) {
      expect(event.code).toBe(CloseCode.LIMIT_REACHED)
      expect(event.error).toBeInstanceOf(RelayError)
      expect((event.error as RelayError).reason).toBe('bytes-exceeded')
    }
    expect(a.getConnection(b.peerId)).toBeUndefined()
  })

  it('resets a circuit that outlives its maximum duration', async () => {
    const { r, a, b } = await triangle({ server: { maxCircuitDuration: 600 } })
    const events = serviceEvents(r, 'relay-server')
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    const opened = performance.now()
    const closed = nextClose(a, b.peerId)
    const event = await closed
    expect(performance.now() - opened).toBeGreaterThan(400)
    expect(event.code).toBe(CloseCode.LIMIT_REACHED)
    expect((event.error as RelayError).reason).toBe('duration-exceeded')
    expect(connection.method).toBe('relayed')
    await waitFor(() => events.items.some((e) => e.type === 'circuit:close' && e.message.includes('duration-exceeded')), 2000, 'close event')
  })

  it('refuses at once when the target is not connected to the relay, and retries stay bounded', async () => {
    const r = await startNode({ services: [relayServer()] })
    const refusals = serviceEvents(r, 'relay-server')
    const a = await startNode({
      role: 'client',
      services: [relay({ upgrade: false })],
      retry: { maxAttempts: 3, initialDelay: 20, maxDelay: 40, jitter: false },
    })
    const b = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    await a.connect(contactOf(r))

    const t0 = performance.now()
    const once = viaRelay(await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(performance.now() - t0).toBeLessThan(1000)
    expect(once.reason).toBe('not-connected')
    expect(once.relay).toBe(r.peerId)
    expect(refusals.count).toBe(1)

    // With the node's retry policy: exactly maxAttempts requests reach the relay, then it stops.
    const retried = await a.connect({ peerId: b.peerId, addresses: [] }).catch((e: unknown) => e)
    expect(viaRelay(retried).reason).toBe('not-connected')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(refusals.items.filter((e) => e.type === 'circuit:refused').length).toBe(1 + 3)
  })

  it('says no relay is available when no connected peer relays, and remembers peers that do not', async () => {
    const plain = await startNode()
    const a = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    const b = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    await a.connect(contactOf(plain))
    const first = viaRelay(await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(first.reason).toBe('unavailable')
    const second = viaRelay(await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(second.reason).toBe('no-relay')
  })

  it('the target applies its own blacklist and limits', async () => {
    const r = await startNode({ services: [relayServer()] })
    const a = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    const b = await startNode({ role: 'client', services: [relay({ upgrade: false, maxRelayedConnections: 1 })] })
    const c = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    await Promise.all([a, b, c].map((node) => node.connect(contactOf(r))))
    await a.connect({ peerId: b.peerId, addresses: [] })
    const full = viaRelay(await c.connect({ peerId: b.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(full.reason).toBe('target-refused')
    expect(full.limit).toBe('target-circuits')

    b.blacklist.add(c.peerId)
    await a.getConnection(b.peerId)!.close()
    await waitFor(() => b.getConnection(a.peerId) === undefined, 5000, 'B to drop A')
    const blocked = viaRelay(await c.connect({ peerId: b.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(blocked.reason).toBe('target-refused')
    expect(blocked.message).toMatch(/blacklist/)
  })

  it('rejects bad options with a ConfigError', () => {
    expect(() => relayServer({ maxCircuits: 0 })).toThrow(/maxCircuits/)
    expect(() => relay({ upgrade: { delay: -1 } })).toThrow(/upgrade\.delay/)
  })
})
