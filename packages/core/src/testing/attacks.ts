/**
 * Attack tests against a real node, for any transport: a {@link HostilePeer}
 * sends lying message headers and leaves messages unfinished while a genuine
 * peer keeps asking the node for answers. Each test asserts that the node
 * does not crash, that its memory grows by less than a stated bound, that
 * the genuine peer is answered within a stated time, and that the node names
 * the reason it cut the attacker off (a typed `error` event).
 *
 * @packageDocumentation
 */
import assert from 'node:assert/strict'
import type { NodeConfigInput } from '../config/schema.js'
import { StreamResetCode } from '../connection/stream-codes.js'
import { MessageKind } from '../connection/message-header.js'
import { LimitExceededError, StreamResetError, TimeoutError } from '../errors.js'
import { type CrustNode, createNode } from '../node.js'
import type { TransportFactory, TransportStream } from '../transport/types.js'
import { HostilePeer } from './hostile.js'
import type { ComplianceTest } from './suite.js'
import { sleep, waitUntil } from './util.js'

const MiB = 1024 * 1024

/** Options of {@link messageAttackTests}. */
export interface MessageAttackOptions {
  /** The transport plugin both the target node and the peers use, e.g. `() => tcp({ host: '127.0.0.1' })`. */
  readonly factory: () => TransportFactory
  /** A genuine peer's request must be answered within this while an attack runs (default 1 s). */
  readonly serveWithinMs?: number
}

/** Peak growth of heap plus array buffer memory (bytes) while `work` runs, sampled every 20 ms. */
export async function peakMemoryGrowth<T>(work: Promise<T>): Promise<{ result: T; growth: number }> {
  const usage = (): number => {
    const m = process.memoryUsage()
    return m.heapUsed + m.arrayBuffers
  }
  const base = usage()
  let peak = base
  const timer = setInterval(() => {
    peak = Math.max(peak, usage())
  }, 20)
  try {
    const result = await work
    peak = Math.max(peak, usage())
    return { result, growth: peak - base }
  } finally {
    clearInterval(timer)
  }
}

/** A target node, what it reported, and a genuine peer connected to it. */
interface Scene {
  readonly node: CrustNode
  readonly errors: Array<{ error: Error; peerId?: string }>
  /** One request from the genuine peer (`payload` default 3 bytes); its round-trip time in ms. */
  ask(payload?: Uint8Array): Promise<number>
  /** Connect a hostile peer to the node. */
  hostile(): Promise<HostilePeer>
  stop(): Promise<void>
}

async function scene(factory: () => TransportFactory, config: Partial<NodeConfigInput>): Promise<Scene> {
  const base = { networkName: 'attack-net', logLevel: 'silent', bootstrap: { cache: false } } as const
  const node = await createNode({ ...base, ...config, transports: [factory()] })
  const friend = await createNode({ ...base, transports: [factory()] })
  const peers: HostilePeer[] = []
  const stop = async (): Promise<void> => {
    await Promise.allSettled(peers.map((p) => p.close()))
    await Promise.allSettled([friend.stop(), node.stop()])
  }
  try {
    await node.start()
    await friend.start()
    node.handle((m) => (m.isRequest ? Buffer.from('fine') : undefined))
    const errors: Array<{ error: Error; peerId?: string }> = []
    node.on('error', ({ error, peerId }) => errors.push({ error, ...(peerId === undefined ? {} : { peerId }) }))
    const connection = await friend.connect({ peerId: node.peerId, addresses: node.addresses })
    const ask = async (payload: Uint8Array = Buffer.from('ok?')): Promise<number> => {
      const start = performance.now()
      const answer = await connection.request(payload)
      assert.equal(Buffer.from(answer).toString(), 'fine')
      return performance.now() - start
    }
    await ask()
    const hostile = async (): Promise<HostilePeer> => {
      const peer = await HostilePeer.connect({
        factory: factory(),
        address: node.addresses[0] as string,
        peerId: node.peerId,
        networkName: 'attack-net',
      })
      peers.push(peer)
      return peer
    }
    return { node, errors, ask, hostile, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * The reset code the node put on `stream`: writes one byte every 20 ms until
 * a write fails with the node's reset (it may still be in flight); undefined
 * when none came within 10 s (a loaded machine can be slow to deliver it).
 */
async function resetCodeOf(stream: TransportStream | undefined): Promise<number | undefined> {
  for (let i = 0; stream !== undefined && i < 500; i++) {
    const error = await stream.write(new Uint8Array(1)).then(
      () => undefined,
      (e: unknown) => e,
    )
    if (error instanceof StreamResetError) return error.resetCode
    await sleep(20)
  }
  return undefined
}

/** Ask every 50 ms until `attack` settles (and once more); the slowest answer in ms. */
async function slowestAnswer(ask: () => Promise<number>, attack: Promise<unknown>): Promise<number> {
  let done = false
  void attack.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  let slowest = 0
  while (!done) {
    slowest = Math.max(slowest, await ask())
    await sleep(50)
  }
  return Math.max(slowest, await ask())
}

/**
 * Attacks with lying or unfinished messages, each against a fresh node built
 * with `factory`. Runner-agnostic, like the compliance suite: register each
 * with your runner (`it(t.name, t.run, t.timeoutMs)`).
 */
export function messageAttackTests(options: MessageAttackOptions): ComplianceTest[] {
  const serveWithin = options.serveWithinMs ?? 1_000
  const { factory } = options
  return [
    {
      name: 'streams that each declare a 16 MiB message and then stall reserve no memory and are reset at the deadline',
      timeoutMs: 20_000,
      async run() {
        // maxProtocolErrors lifted: the node would otherwise disconnect the peer after 32 timed-out messages,
        // and this test attacks the deadline of each message.
        const s = await scene(factory, { connection: { messageTimeout: 1_500, maxProtocolErrors: 1_000_000 } })
        try {
          const peer = await s.hostile()
          // Every stream the node lets us open (one went to the handshake), each declaring the largest message.
          const attack = peer.stall(200, MessageKind.SEND, 16 * MiB)
          const { result: streams, growth } = await peakMemoryGrowth(
            attack.then(async (opened) => {
              await sleep(300) // the node has read every header by now
              return opened
            }),
          )
          const slowest = await slowestAnswer(s.ask, sleep(300))
          assert.equal(streams.length, 200)
          // Before: 200 x 16 MiB reserved at the headers (3.2 GB). Now: the header bytes.
          assert.ok(growth < 32 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB`)
          assert.ok(slowest < serveWithin, `a genuine request took ${Math.round(slowest)} ms`)
          // Reported (a few events; floods are summarised in the log) and every stream reset with the TIMEOUT code.
          await waitUntil(() => s.errors.some((e) => e.error instanceof TimeoutError), 5_000, 'the stalled messages timed out')
          assert.ok(s.errors.every((e) => e.peerId === peer.peerId))
          assert.equal(await resetCodeOf(streams[0]), StreamResetCode.TIMEOUT)
          assert.equal(await resetCodeOf(streams[199]), StreamResetCode.TIMEOUT)
          await s.ask()
        } finally {
          await s.stop()
        }
      },
    },
    {
      name: 'an unfinished message is reset once it stops progressing (TimeoutError), the connection stays usable',
      timeoutMs: 15_000,
      async run() {
        const s = await scene(factory, { connection: { messageTimeout: 500 } })
        try {
          const peer = await s.hostile()
          const started = performance.now()
          const [stream] = await peer.stall(1, MessageKind.SEND, MiB, 1024)
          await waitUntil(() => s.errors.some((e) => e.error instanceof TimeoutError), 3_000, 'a TimeoutError event')
          const elapsed = performance.now() - started
          assert.ok(elapsed >= 400 && elapsed < 2_000, `reset after ${Math.round(elapsed)} ms (deadline 500 ms)`)
          assert.equal(await resetCodeOf(stream), StreamResetCode.TIMEOUT)
          // Only the stream was cut: the same connection still delivers a whole message.
          const whole = new Uint8Array(8 + 10)
          whole.set(HostilePeer.header(MessageKind.SEND, 10), 0)
          const received = new Promise<void>((resolve) => s.node.on('message', () => resolve()))
          await peer.open(whole, { end: true })
          await received
        } finally {
          await s.stop()
        }
      },
    },
    {
      name: 'streams left with half a header, or with a whole message but never ended, are reset at the deadline',
      timeoutMs: 15_000,
      async run() {
        const s = await scene(factory, { connection: { messageTimeout: 500, maxProtocolErrors: 1_000_000 } })
        try {
          const peer = await s.hostile()
          const whole = new Uint8Array(8 + 10)
          whole.set(HostilePeer.header(MessageKind.SEND, 10), 0)
          const opened = await Promise.all([
            ...Array.from({ length: 50 }, () => peer.open(whole.subarray(0, 3))),
            ...Array.from({ length: 50 }, () => peer.open(whole)),
          ])
          await waitUntil(() => s.errors.some((e) => e.error instanceof TimeoutError), 10_000, 'a TimeoutError event')
          assert.equal(await resetCodeOf(opened[0]), StreamResetCode.TIMEOUT)
          assert.equal(await resetCodeOf(opened[99]), StreamResetCode.TIMEOUT)
          await s.ask()
        } finally {
          await s.stop()
        }
      },
    },
    {
      name: 'peers that fill the node-wide budget do not starve a genuine peer: its 4 MiB request is answered',
      timeoutMs: 30_000,
      async run() {
        const s = await scene(factory, { connection: { maxPendingMessageBytes: 16 * MiB, maxPendingMessageBytesTotal: 32 * MiB } })
        try {
          const peers = await Promise.all([s.hostile(), s.hostile(), s.hostile()])
          // Each fills its own 16 MiB: 48 MiB of unfinished messages against a node-wide 32 MiB.
          const attack = Promise.all(peers.map((p) => p.stall(64, MessageKind.SEND, 16 * MiB, 256 * 1024, 2_000)))
          const { result: took, growth } = await peakMemoryGrowth(
            attack.then(async () => {
              await sleep(200)
              return s.ask(new Uint8Array(4 * MiB))
            }),
          )
          assert.ok(took < serveWithin, `the genuine 4 MiB request took ${Math.round(took)} ms`)
          // Before: 192 x 16 MiB reserved at the headers (3 GB). Now: at most twice the node-wide budget, plus transit.
          assert.ok(growth < 96 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB`)
          assert.ok(s.errors.some((e) => e.error instanceof LimitExceededError))
        } finally {
          await s.stop()
        }
      },
    },
    {
      name: 'a peer that sends more unfinished message data than its connection budget has streams reset (LimitExceededError)',
      timeoutMs: 30_000,
      async run() {
        const s = await scene(factory, { connection: { maxPendingMessageBytes: 16 * MiB, maxPendingMessageBytesTotal: 64 * MiB } })
        try {
          const peer = await s.hostile()
          // 100 streams x (16 MiB declared, 256 KiB sent) = 25 MiB of real data, over the 16 MiB budget.
          const attack = peer.stall(100, MessageKind.SEND, 16 * MiB, 256 * 1024, 2_000)
          const [{ growth }, slowest] = await Promise.all([
            peakMemoryGrowth(attack.then(() => sleep(300))),
            slowestAnswer(s.ask, attack.then(() => sleep(300))),
          ])
          // Before: 100 x 16 MiB reserved at the headers (1.6 GB). Now: the budget plus transit buffers.
          assert.ok(growth < 64 * MiB, `memory grew by ${Math.round(growth / MiB)} MiB`)
          assert.ok(slowest < serveWithin, `a genuine request took ${Math.round(slowest)} ms`)
          const refused = s.errors.filter((e) => e.error instanceof LimitExceededError)
          assert.ok(refused.length > 0, 'no LimitExceededError reported')
          assert.equal((refused[0]?.error as LimitExceededError | undefined)?.limit, 'connection.maxPendingMessageBytes')
          assert.equal(refused[0]?.peerId, peer.peerId)
        } finally {
          await s.stop()
        }
      },
    },
  ]
}
