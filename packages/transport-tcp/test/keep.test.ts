import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CrustNode, CloseCode, DeliveryUnknownError, type NodeEvents } from '@crust/core'
import { createTestNode, pathProxy, stopTestNodes } from '@crust/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { tcp } from '../src/index.js'
import { contactOf, startNode, waitFor } from './helpers.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Every payload of `event` the node emits from now on. */
function record<E extends 'peer:connected' | 'peer:disconnected' | 'peer:reconnected' | 'connection:close'>(node: CrustNode, event: E): NodeEvents[E][] {
  const seen: NodeEvents[E][] = []
  node.on(event, (payload) => seen.push(payload))
  return seen
}

describe('peer-level events and kept peers (TCP)', () => {
  it('peer:connected once per peer, not for a replacement; peer:disconnected with the reason', async () => {
    const a = await startNode()
    const b = await startNode()
    const connected = record(a, 'peer:connected')
    const disconnected = record(a, 'peer:disconnected')
    const conn = await a.connect(contactOf(b))
    await waitFor(() => connected.length === 1, 2_000, 'peer:connected')
    expect(connected[0]?.peerId).toBe(b.peerId)
    await conn.close('bye')
    await waitFor(() => disconnected.length === 1, 2_000, 'peer:disconnected')
    expect(disconnected[0]).toMatchObject({ peerId: b.peerId, code: CloseCode.NORMAL, remote: false })
    expect(connected).toHaveLength(1)
  })

  it('a kept peer that restarts (same key, same port) is reconnected within 2 s of its return, with peer:reconnected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-keep-'))
    dirs.push(dir)
    const keyFile = join(dir, 'b.key')
    const b = await createTestNode([tcp({ host: '127.0.0.1' })], { identity: { keyFile } })
    const port = Number(new URL(b.addresses[0] ?? '').port)
    const a = await startNode()
    const reconnected = record(a, 'peer:reconnected')
    const disconnected = record(a, 'peer:disconnected')
    a.keep(contactOf(b))
    await waitFor(() => a.getConnection(b.peerId) !== undefined, 3_000, 'the first connection')
    await stopTestNodes([b])
    await waitFor(() => disconnected.length === 1, 3_000, 'peer:disconnected')
    // Sends while it is down reject; none resolves.
    await expect(a.connect({ peerId: b.peerId, addresses: [`tcp://127.0.0.1:${port}`] }, { retry: false })).rejects.toThrow()
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const back = await createTestNode([tcp({ host: '127.0.0.1', port })], { identity: { keyFile } })
    const returnedAt = performance.now()
    expect(back.peerId).toBe(b.peerId)
    await waitFor(() => reconnected.length === 1, 5_000, 'peer:reconnected')
    const tookMs = performance.now() - returnedAt
    expect(tookMs).toBeLessThan(2_000)
    expect(reconnected[0]?.gapMs).toBeGreaterThan(1_400)
    const conn = a.getConnection(b.peerId)
    back.handle((m) => (m.isRequest ? m.data : undefined))
    expect(Buffer.from(await (conn as NonNullable<typeof conn>).request(Buffer.from('hi'))).toString()).toBe('hi')
    a.unkeep(b.peerId)
    expect(a.kept).toEqual([])
  }, 20_000)

  it('node.send to a receiver that restarted after the hand-over rejects with DeliveryUnknownError (at most once), and later sends reach the new run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-restart-'))
    dirs.push(dir)
    const keyFile = join(dir, 'b.key')
    const b = await createTestNode([tcp({ host: '127.0.0.1' })], { identity: { keyFile }, connection: { pathTimeout: 1_000 } })
    const port = Number(new URL(b.addresses[0] ?? '').port)
    let firstRun = 0
    b.handle(() => {
      firstRun++
    })
    const a = await startNode({ connection: { pathTimeout: 1_000 } })
    const proxy = await pathProxy('tcp', port)
    try {
      await a.connect({ peerId: b.peerId, addresses: [`tcp://127.0.0.1:${proxy.port}`] })
      proxy.blackhole('back') // b gets the message, a never hears it acknowledged
      const pending = a.send(b.peerId, Buffer.from('once'), { timeout: 10_000 }).then(
        () => 'resolved',
        (error: unknown) => error,
      )
      await waitFor(() => firstRun === 1, 2_000, 'the first run to receive it')
      await stopTestNodes([b])
      let secondRun = 0
      const back = await createTestNode([tcp({ host: '127.0.0.1', port })], { identity: { keyFile } })
      back.handle(() => {
        secondRun++
      })
      const outcome = await pending
      expect(outcome).toBeInstanceOf(DeliveryUnknownError)
      expect(String(outcome)).toMatch(/restarted/)
      expect(secondRun).toBe(0) // not resent: never delivered twice
      await a.send(b.peerId, Buffer.from('next'), { timeout: 10_000 })
      expect(secondRun).toBe(1)
    } finally {
      await proxy.close()
    }
  }, 20_000)

  it('a peer that closes idle connections sooner than our keep-alive (its idleTimeout, from the handshake) is pinged in time', async () => {
    const strict = await startNode({ connection: { idleTimeout: 3_000, keepAliveInterval: 0 } })
    const relaxed = await startNode() // keep-alive every 10 s
    const closes = record(strict, 'connection:close')
    const conn = await relaxed.connect(contactOf(strict))
    await new Promise((resolve) => setTimeout(resolve, 6_500))
    expect(closes).toEqual([])
    expect(relaxed.getConnection(strict.peerId)).toBe(conn)
  }, 15_000)

  it('liveness before method: a pooled connection that went silent gives way to the peer\'s new one instead of closing it', async () => {
    // `high` dialled `low` through a proxy that then blackholes: `low` finds the path dead and
    // (keeping `high`) dials it directly. At `high` the silent pooled connection wins the
    // tie-break by peer id; it must be contested (pinged) and replaced, not kept.
    const n1 = await startNode({ connection: { pathTimeout: 1_000 } })
    const n2 = await startNode({ connection: { pathTimeout: 1_000 } })
    const [high, low] = n1.peerId > n2.peerId ? [n1, n2] : [n2, n1]
    const proxy = await pathProxy('tcp', Number(new URL(low.addresses[0] ?? '').port))
    try {
      const first = await high.connect({ peerId: low.peerId, addresses: [`tcp://127.0.0.1:${proxy.port}`] })
      expect(first.direction).toBe('outbound')
      for (const node of [high, low]) node.handle((m) => (m.isRequest ? m.data : undefined))
      await waitFor(() => low.getConnection(high.peerId) !== undefined, 2_000, 'the first connection at low')
      const closesAtLow = record(low, 'connection:close')
      low.keep({ peerId: high.peerId, addresses: [...high.addresses] })
      proxy.blackhole()
      const started = performance.now()
      await expect(low.getConnection(high.peerId)?.send(Buffer.from('lost?'))).rejects.toThrow()
      // low redials high directly; high must end up on that connection and answer over it.
      await waitFor(() => high.getConnection(low.peerId) !== first && high.getConnection(low.peerId) !== undefined, 6_000, 'high to switch')
      const answer = await high.getConnection(low.peerId)?.request(Buffer.from('ping'))
      expect(Buffer.from(answer ?? []).toString()).toBe('ping')
      expect(performance.now() - started).toBeLessThan(5_000)
      expect(closesAtLow.filter((c) => c.code === CloseCode.DUPLICATE)).toEqual([]) // low's new connection was not refused as a duplicate
    } finally {
      await proxy.close()
    }
  }, 20_000)
})
