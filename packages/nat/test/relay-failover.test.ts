/**
 * Relay failover on loopback (issue 13, item 6): when the relay carrying a
 * relayed connection dies, or vanishes without a FIN (a blackholed path,
 * made here by a proxy in front of it), every circuit over it ends at once
 * with a typed reason, and with a second relay configured `node.send`
 * carries on through it: nothing acknowledged is lost, nothing is delivered
 * twice. The NAT lab runs the same scenarios across real routers.
 */
import { CloseCode, type CrustNode } from '@crust/core'
import { type PathProxy, pathProxy } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { RelayError, relay, relayServer } from '../src/relay/index.js'
import { contactOf, startNode, triangle, waitFor } from './relay-helpers.js'

function portOf(node: CrustNode): number {
  return Number(new URL(node.addresses[0] as string).port)
}

function closes(node: CrustNode, peerId: string): Array<{ code: number; error?: Error; at: number }> {
  const seen: Array<{ code: number; error?: Error; at: number }> = []
  node.on('connection:close', (event) => {
    if (event.peerId === peerId) seen.push({ code: event.code, error: event.error, at: performance.now() })
  })
  return seen
}

/** Two relays; A reaches the first through a proxy (the path a test breaks), B reaches both directly. */
async function twoRelays(): Promise<{ r1: CrustNode; r2: CrustNode; proxy: PathProxy; a: CrustNode; b: CrustNode }> {
  const r1 = await startNode({ services: [relayServer({ maxBytesPerSecond: 0 })] })
  const r2 = await startNode({ services: [relayServer({ maxBytesPerSecond: 0 })] })
  const proxy = await pathProxy('tcp', portOf(r1))
  const viaProxy = { peerId: r1.peerId, addresses: [`tcp://127.0.0.1:${proxy.port}`] }
  const a = await startNode({ role: 'client', services: [relay({ upgrade: false, discover: false, relays: [viaProxy, contactOf(r2)] })] })
  const b = await startNode({ role: 'client', services: [relay({ upgrade: false, discover: false, relays: [contactOf(r1), contactOf(r2)] })] })
  await waitFor(() => [r1, r2].every((r) => r.getConnection(a.peerId) && r.getConnection(b.peerId)), 5_000, 'A and B to reach both relays')
  return { r1, r2, proxy, a, b }
}

/**
 * A keeps B, over the first relay: the path the test then breaks. The keeper asks the configured relays in
 * order, but on a loaded machine the first may be slow to answer and the pair meet over the second; then the
 * connection is closed and the keeper tries again (r1 first), so the scenario starts where it claims to.
 */
async function keptOverFirstRelay(a: CrustNode, b: CrustNode, r1: CrustNode): Promise<void> {
  a.keep(b.peerId)
  for (let attempt = 1; ; attempt++) {
    await waitFor(() => b.getConnection(a.peerId) !== undefined, 5_000, 'A to reach B')
    const connection = b.getConnection(a.peerId)
    if (connection?.remoteAddress.includes(r1.peerId)) return
    if (attempt === 3) throw new Error(`A reached B over ${connection?.remoteAddress}, not the first relay, three times`)
    await connection?.close('the test wants the pair over the first relay')
    await waitFor(() => b.getConnection(a.peerId) !== connection, 5_000, 'the connection over the second relay to go')
  }
}

/**
 * A steady flow of `node.send` from A to B while `fail` breaks the first
 * relay: what was sent, acknowledged, arrived and duplicated, and how long
 * after the break the first message arrived over the new path.
 */
async function flowAcross(a: CrustNode, b: CrustNode, fail: () => Promise<void> | void) {
  const arrivals = new Map<number, number>()
  let firstAfterBreak: number | undefined
  let brokeAt = Number.POSITIVE_INFINITY
  let before: string | undefined
  let after: string | undefined
  b.handle((message) => {
    const seq = Number(Buffer.from(message.data).toString())
    arrivals.set(seq, (arrivals.get(seq) ?? 0) + 1)
    // The new path's address (relay://<relay>/<A>) names the relay it goes through.
    if (performance.now() > brokeAt && firstAfterBreak === undefined && message.connection.remoteAddress !== before) {
      firstAfterBreak = performance.now()
      after = message.connection.remoteAddress
    }
    return undefined
  })
  let acknowledged = 0
  let rejected = 0
  const sends: Array<Promise<void>> = []
  let seq = 0
  const send = (): void => {
    const n = ++seq
    sends.push(
      a.send(b.peerId, Buffer.from(String(n)), { timeout: 20_000 }).then(
        () => void acknowledged++,
        () => void rejected++,
      ),
    )
  }
  const tick = setInterval(send, 20)
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  before = b.getConnection(a.peerId)?.remoteAddress
  brokeAt = performance.now()
  await fail()
  await waitFor(() => firstAfterBreak !== undefined, 15_000, 'messages over the new path')
  await new Promise((resolve) => setTimeout(resolve, 500))
  clearInterval(tick)
  await Promise.all(sends)
  const arrived = [...arrivals.keys()].length
  const duplicated = [...arrivals.values()].reduce((sum, count) => sum + count - 1, 0)
  return {
    sent: seq,
    acknowledged,
    rejected,
    arrived,
    duplicated,
    recoveryMs: Math.round((firstAfterBreak ?? Number.NaN) - brokeAt),
    before,
    after,
  }
}

describe('relay failover', () => {
  it('every circuit over a relay connection ends at once when it closes: PATH_LOST, RelayError relay-lost', async () => {
    const { r, a, b } = await triangle()
    const relayed = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(relayed.method).toBe('relayed')
    const seen = closes(a, b.peerId)
    const started = performance.now()
    await a.getConnection(r.peerId)?.close('the relay went away')
    await waitFor(() => seen.length > 0, 2_000, 'the relayed connection to close')
    const [first] = seen
    expect((first?.at ?? Number.POSITIVE_INFINITY) - started).toBeLessThan(500)
    expect(first?.code).toBe(CloseCode.PATH_LOST)
    expect(first?.error).toBeInstanceOf(RelayError)
    expect(first?.error).toMatchObject({ reason: 'relay-lost' })
    // The far end learns from the relay (it resets the circuit: peer-gone).
    await waitFor(() => b.getConnection(a.peerId) === undefined, 2_000, 'B to see the circuit end')
  })

  it('a relay that dies (its connections reset): node.send moves to the second relay within 5 s, nothing lost or duplicated', async () => {
    const { r1, r2, proxy, a, b } = await twoRelays()
    await keptOverFirstRelay(a, b, r1)
    const figures = await flowAcross(a, b, () => proxy.close())
    expect(figures.before).toContain(`relay://`)
    expect(figures.after).toContain(r2.peerId)
    expect(figures.rejected).toBe(0)
    expect(figures.acknowledged).toBe(figures.sent)
    expect(figures.arrived).toBe(figures.sent)
    expect(figures.duplicated).toBe(0)
    expect(figures.recoveryMs).toBeLessThan(5_000)
    process.stdout.write(`relay failover (loopback, killed): ${JSON.stringify(figures)}\n`)
  })

  it('a relay blackholed (no FIN): the dead path is found, the relay closed as PATH_LOST, node.send carries on via the second relay', async () => {
    const { r1, r2, proxy, a, b } = await twoRelays()
    await keptOverFirstRelay(a, b, r1)
    const relayCloses = closes(a, r1.peerId)
    const figures = await flowAcross(a, b, () => proxy.blackhole())
    expect(figures.after).toContain(r2.peerId)
    expect(figures.rejected).toBe(0)
    expect(figures.acknowledged).toBe(figures.sent)
    expect(figures.arrived).toBe(figures.sent)
    expect(figures.duplicated).toBe(0)
    // connection.pathTimeout (4 s) plus the new circuit.
    expect(figures.recoveryMs).toBeLessThan(6_000)
    // The silent relay did not answer a ping: closed, so nothing else waits on it.
    await waitFor(() => relayCloses.length > 0, 5_000, 'the blackholed relay connection to close')
    expect(relayCloses[0]?.code).toBe(CloseCode.PATH_LOST)
    process.stdout.write(`relay failover (loopback, blackholed): ${JSON.stringify(figures)}\n`)
  }, 30_000)
})
