/**
 * Attacks on the multiplexer of a real node, from an authenticated peer
 * (real TLS 1.3 identity, completed HELLO) that speaks raw mux frames over
 * loopback and never reads what the node sends back.
 */
import { CloseCode, type CrustNode, LimitExceededError, type NodeConfigInput } from '@crust/core'
import { MessageKind } from '@crust/core/plugin'
import { FrameType } from '@crust/mux'
import { peakMemoryGrowth, sleep } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { contactOf, startNode, waitFor } from './helpers.js'
import { flood, message, muxFrame, rawPeer } from './raw-client.js'

const SYN = 0x1
const FIN = 0x4
const MiB = 1024 * 1024
/** Growth of heap + array buffers the node may show while attacked. */
const MEMORY_BOUND = 96 * MiB
/** A genuine peer's request must be answered within this while the attack runs. */
const SERVE_BOUND_MS = 1_000

/** A node that answers requests, its connection closes, and a genuine peer already connected to it. */
async function target(config: Partial<NodeConfigInput> = {}, answer: Buffer = Buffer.from('fine')): Promise<{ node: CrustNode; closes: Array<{ code: number; reason: string; error?: Error }>; ask: () => Promise<number> }> {
  const node = await startNode(config)
  node.handle((m) => (m.isRequest ? (m.data.length === 5 ? answer : Buffer.from('fine')) : undefined))
  const closes: Array<{ code: number; reason: string; error?: Error }> = []
  node.on('connection:close', ({ code, reason, error }) => closes.push({ code, reason, error }))
  const friend = await startNode()
  const connection = await friend.connect(contactOf(node))
  const ask = async (): Promise<number> => {
    const start = performance.now()
    expect(Buffer.from(await connection.request(Buffer.from('ok?'))).toString()).toBe('fine')
    return performance.now() - start
  }
  await ask()
  return { node, closes, ask }
}

/** Ask every 100 ms while `attack` runs; the slowest answer. */
async function servedDuring(ask: () => Promise<number>, attack: Promise<unknown>): Promise<number> {
  let done = false
  void attack.finally(() => {
    done = true
  })
  let slowest = 0
  while (!done) {
    slowest = Math.max(slowest, await ask())
    await sleep(100)
  }
  return Math.max(slowest, await ask())
}

describe('a peer that floods the mux and never reads', () => {
  it('PING flood: the node closes it with "control queue overrun", memory stays bounded, others are served', async () => {
    const { node, closes, ask } = await target()
    const peer = await rawPeer(node)
    peer.socket.pause() // never read the pongs
    const attack = flood(peer.socket, muxFrame(FrameType.PING, SYN, 0, 7), 3_000)
    const [{ growth }, slowest] = await Promise.all([peakMemoryGrowth(attack), servedDuring(ask, attack)])
    await waitFor(() => closes.length > 0, 5_000, 'the attacker closed')
    expect(closes[0]?.code).toBe(CloseCode.LIMIT_REACHED)
    expect(closes[0]?.reason).toMatch(/control queue overrun/)
    expect(closes[0]?.error).toBeInstanceOf(LimitExceededError)
    expect(growth).toBeLessThan(MEMORY_BOUND)
    expect(slowest).toBeLessThan(SERVE_BOUND_MS)
  })

  it('malformed-stream flood: every refused stream draws a reset; the node closes it with "control queue overrun"', { timeout: 30_000 }, async () => {
    // The node would disconnect the peer at maxProtocolErrors first (tools/attacks/test/floods.test.ts):
    // lifted here, so the bound on replies to a peer that never reads is what is attacked.
    const { node, closes, ask } = await target({ connection: { maxProtocolErrors: 1_000_000 } })
    const peer = await rawPeer(node)
    peer.socket.pause()
    // Streams whose message header has an unknown version: the node resets each one.
    const bad = message(0, Buffer.alloc(0))
    bad[0] = 9
    const attack = (async () => {
      let id = 3
      // Until the node cuts us off: the kernel's socket buffers absorb a few MB of resets first.
      const end = Date.now() + 15_000
      while (Date.now() < end && peer.socket.writable && closes.length === 0) {
        // 96 streams per write, then a turn of the event loop: the node refuses
        // them (returning stream credit) before the next batch, so we stay
        // within the credit we cannot read (256 streams, raised as they finish).
        const frames: Buffer[] = []
        for (let i = 0; i < 96; i++, id += 2) frames.push(muxFrame(FrameType.DATA, SYN | FIN, id, bad.length, bad))
        peer.socket.write(Buffer.concat(frames))
        await new Promise((resolve) => setImmediate(resolve))
      }
      return id
    })()
    const [{ growth }, slowest] = await Promise.all([peakMemoryGrowth(attack), servedDuring(ask, attack)])
    await waitFor(() => closes.length > 0, 5_000, 'the attacker closed')
    expect(closes[0]?.code).toBe(CloseCode.LIMIT_REACHED)
    expect(closes[0]?.reason).toMatch(/control queue overrun/)
    expect(closes[0]?.error).toBeInstanceOf(LimitExceededError)
    expect(growth).toBeLessThan(MEMORY_BOUND)
    expect(slowest).toBeLessThan(SERVE_BOUND_MS)
  })

  it('a peer that keeps pinging but takes none of our bytes is closed after idleTimeout ("write stalled")', async () => {
    // Requests of 5 bytes are answered with 1 MiB: 40 of them fill every socket buffer between us.
    const { node, closes, ask } = await target({ connection: { idleTimeout: 1_000, keepAliveInterval: 300 } }, Buffer.alloc(1024 * 1024))
    const peer = await rawPeer(node)
    peer.socket.pause()
    const request = message(MessageKind.REQUEST, Buffer.from('stall'))
    for (let i = 0, id = 3; i < 40; i++, id += 2) peer.socket.write(muxFrame(FrameType.DATA, SYN | FIN, id, request.length, request))
    const started = Date.now()
    // Our pings keep the node's idle timer from firing: only the stall can end this.
    const pinger = setInterval(() => peer.socket.write(muxFrame(FrameType.PING, SYN, 0, 1)), 200)
    try {
      const slowest = await servedDuring(ask, waitFor(() => closes.length > 0, 6_000, 'the stalled peer closed'))
      expect(closes[0]?.code).toBe(CloseCode.LIMIT_REACHED)
      expect(closes[0]?.reason).toMatch(/write stalled/)
      expect(closes[0]?.error).toBeInstanceOf(LimitExceededError)
      expect(Date.now() - started).toBeLessThan(4_000)
      expect(slowest).toBeLessThan(SERVE_BOUND_MS)
    } finally {
      clearInterval(pinger)
    }
  })
})
