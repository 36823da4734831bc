import assert from 'node:assert/strict'
import { DeliveryUnknownError } from '../errors.js'
import type { CrustNode } from '../node.js'
import { CloseCode, type TransportFactory } from '../transport/types.js'
import { createTestNode, stopTestNodes } from './nodes.js'
import { type PathProxy, pathProxy } from './path-proxy.js'
import type { ComplianceTest } from './suite.js'
import { sleep, waitUntil } from './util.js'

/** Options of {@link pathTests}. */
export interface PathTestOptions {
  /** The transports each node is created with, bound to 127.0.0.1 (called once per node). */
  transports(): TransportFactory[]
  /** The address scheme the transport listens on, e.g. `tcp`. */
  readonly scheme: string
  /** What carries the transport: a `tcp` proxy forwards connections, a `udp` one datagrams (and can lose a share of them). */
  readonly proxy: 'tcp' | 'udp'
}

/** How a send ended, by message id. */
interface Outcome {
  readonly resolved: Set<number>
  readonly rejected: Map<number, unknown>
}

/** Two nodes, the dialer reaching the listener through a {@link pathProxy}. */
async function scene(options: PathTestOptions, config: Parameters<typeof createTestNode>[1]) {
  const listener = await createTestNode(options.transports(), config)
  const received = new Set<number>()
  const counts = { deliveries: 0 }
  listener.handle(async (message) => {
    const text = Buffer.from(message.data).toString()
    if (text.startsWith('slow:')) await sleep(Number(text.slice(5)))
    else {
      received.add(Number(text))
      counts.deliveries++
    }
    if (message.isRequest) return message.data
  })
  const dialer = await createTestNode(options.transports(), config)
  const port = Number(new URL(listener.addresses[0] ?? '').port)
  const proxy = await pathProxy(options.proxy, port)
  const conn = await dialer.connect({ peerId: listener.peerId, addresses: [`${options.scheme}://127.0.0.1:${proxy.port}`] })
  return { listener, dialer, proxy, conn, received, counts }
}

async function teardown(nodes: CrustNode[], proxy: PathProxy | undefined): Promise<void> {
  await stopTestNodes(nodes)
  await proxy?.close()
}

/**
 * What users rely on when the path under a connection dies or degrades,
 * checked with real nodes through a loopback proxy that plays the network:
 * a silently dead path (no FIN, no reset: a router or NAT mapping gone) is
 * detected within `connection.pathTimeout` and reported honestly (no send
 * resolves unless the peer has it; the others reject, typed); a slow handler
 * or a pause is not mistaken for a dead path; and (UDP transports) 10 %
 * datagram loss each way loses no request and closes nothing.
 */
export function pathTests(options: PathTestOptions): ComplianceTest[] {
  const tests: ComplianceTest[] = [
    {
      name: 'a silently dead path is detected within pathTimeout: sends reject (never resolve unless delivered), the connection closes as PATH_LOST',
      timeoutMs: 20_000,
      async run() {
        const s = await scene(options, { connection: { pathTimeout: 1_000 } })
        try {
          const closed = new Promise<{ code: number; at: number }>((resolve) =>
            s.dialer.on('connection:close', (event) => resolve({ code: event.code, at: performance.now() })),
          )
          const outcome: Outcome = { resolved: new Set(), rejected: new Map() }
          let id = 0
          let blackholedAt = 0
          const sending = (async () => {
            const started = performance.now()
            while (performance.now() - started < 3_000) {
              const n = id++
              s.conn.send(Buffer.from(String(n)), { timeout: 10_000 }).then(
                () => outcome.resolved.add(n),
                (error: unknown) => outcome.rejected.set(n, error),
              )
              if (n === 20) {
                s.proxy.blackhole()
                blackholedAt = performance.now()
              }
              await sleep(20)
            }
          })()
          const close = await closed
          await sending
          await waitUntil(() => outcome.resolved.size + outcome.rejected.size === id, 12_000, 'every send to settle')
          const detectedMs = close.at - blackholedAt
          assert.equal(close.code, CloseCode.PATH_LOST, 'the dialer closed the connection as PATH_LOST')
          assert.ok(detectedMs < 2_500, `dead path detected after ${Math.round(detectedMs)} ms (pathTimeout 1000)`)
          const lost = [...outcome.resolved].filter((n) => !s.received.has(n))
          assert.deepEqual(lost, [], 'sends that resolved but never arrived')
          assert.ok(outcome.resolved.size >= 10, `${outcome.resolved.size} sends resolved before the path died`)
          const unknown = [...outcome.rejected.values()].filter((e) => e instanceof DeliveryUnknownError)
          assert.ok(unknown.length > 0, 'sends in flight when the path died reject with DeliveryUnknownError')
          for (const error of outcome.rejected.values()) assert.ok(error instanceof Error && 'code' in error, `typed rejection: ${String(error)}`)
        } finally {
          await teardown([s.dialer, s.listener], s.proxy)
        }
      },
    },
    {
      name: 'a slow handler and an idle pause are not a dead path: the request is answered, the connection stays',
      timeoutMs: 20_000,
      async run() {
        const s = await scene(options, { connection: { pathTimeout: 500 } })
        try {
          let closed = false
          s.dialer.on('connection:close', () => {
            closed = true
          })
          const answer = await s.conn.request(Buffer.from('slow:1500'))
          assert.equal(Buffer.from(answer).toString(), 'slow:1500')
          await sleep(1_000)
          await s.conn.send(Buffer.from('1'))
          assert.equal(closed, false, 'the connection was closed')
        } finally {
          await teardown([s.dialer, s.listener], s.proxy)
        }
      },
    },
  ]
  for (const kind of ['send', 'request'] as const) {
    tests.push({
      name: `node.${kind}() across a dead path: every message is delivered exactly once (answers lost, resent on a new connection)`,
      timeoutMs: 30_000,
      async run() {
        const s = await scene(options, { connection: { pathTimeout: 1_000 } })
        try {
          const count = 30
          const results: Array<Promise<unknown>> = []
          for (let n = 0; n < count; n++) {
            const data = Buffer.from(String(n))
            results.push(kind === 'send' ? s.dialer.send(s.listener.peerId, data, { timeout: 15_000 }) : s.dialer.request(s.listener.peerId, data, { timeout: 15_000 }))
            // From the 10th on, what the listener sends back is lost: its acknowledgements and answers never arrive.
            if (n === 9) s.proxy.blackhole('back')
            await sleep(20)
          }
          const settled = await Promise.allSettled(results)
          const failed = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))
          assert.deepEqual(failed, [], `node.${kind} calls that failed`)
          if (kind === 'request') {
            for (const [n, r] of settled.entries()) {
              assert.equal(Buffer.from((r as PromiseFulfilledResult<Uint8Array>).value).toString(), String(n), `answer ${n}`)
            }
          }
          assert.equal(s.received.size, count, 'every message reached the handler')
          assert.equal(s.counts.deliveries, count, 'no message reached the handler twice')
          assert.notEqual(s.dialer.getConnection(s.listener.peerId), s.conn, 'the messages went on over a new connection')
        } finally {
          await teardown([s.dialer, s.listener], s.proxy)
        }
      },
    })
  }
  tests.push(
    {
      name: 'the network changed (every path dies at once): the sender and the receiver both close their silent connection well before pathTimeout',
      timeoutMs: 30_000,
      async run() {
        // pathTimeout 8 s: without the network check, nothing would close before it.
        const config = { connection: { pathTimeout: 8_000 } }
        const s = await scene(options, config)
        const third = await createTestNode(options.transports(), config)
        const thirdPort = Number(new URL(third.addresses[0] ?? '').port)
        const [dialerSide, listenerSide] = await Promise.all([pathProxy(options.proxy, thirdPort), pathProxy(options.proxy, thirdPort)])
        try {
          // Each end has a second, idle path (to a third node) that dies with the first.
          await s.dialer.connect({ peerId: third.peerId, addresses: [`${options.scheme}://127.0.0.1:${dialerSide.port}`] })
          await s.listener.connect({ peerId: third.peerId, addresses: [`${options.scheme}://127.0.0.1:${listenerSide.port}`] })
          const closes = (node: CrustNode) => {
            const seen: Array<{ peerId: string; code: number; reason: string; at: number }> = []
            node.on('connection:close', (event) => seen.push({ peerId: event.peerId, code: event.code, reason: event.reason, at: performance.now() }))
            return seen
          }
          const dialerCloses = closes(s.dialer)
          const listenerCloses = closes(s.listener)
          // Steady traffic from the dialer: the listener waits for nothing, yet must notice.
          const sending = (async () => {
            for (let n = 0; n < 20; n++) {
              await s.conn.send(Buffer.from(String(n)))
              await sleep(20)
            }
          })()
          await sending
          for (const proxy of [s.proxy, dialerSide, listenerSide]) proxy.blackhole()
          const changedAt = performance.now()
          const pending = s.conn.send(Buffer.from('after')).catch((error: unknown) => error)
          const lostOn = (seen: typeof dialerCloses, peerId: string) => () => seen.some((close) => close.peerId === peerId)
          await waitUntil(lostOn(dialerCloses, s.listener.peerId), 7_000, 'the dialer to close its silent connection')
          await waitUntil(lostOn(listenerCloses, s.dialer.peerId), 7_000, 'the listener to close its silent connection')
          for (const [who, seen, peer] of [
            ['dialer', dialerCloses, s.listener.peerId],
            ['listener', listenerCloses, s.dialer.peerId],
          ] as const) {
            const close = seen.find((c) => c.peerId === peer)!
            const after = Math.round(close.at - changedAt)
            assert.equal(close.code, CloseCode.PATH_LOST, `the ${who} closed as PATH_LOST`)
            assert.match(close.reason, /network changed/, `the ${who}'s reason`)
            assert.ok(after < 5_000, `the ${who} closed ${after} ms after the change (pathTimeout 8000)`)
          }
          assert.ok((await pending) instanceof DeliveryUnknownError, 'the send in flight rejects with DeliveryUnknownError')
        } finally {
          await teardown([s.dialer, s.listener, third], s.proxy)
          await Promise.all([dialerSide.close(), listenerSide.close()])
        }
      },
    },
    {
      name: 'one path dies, the others answer: only the dead one closes, at pathTimeout (a probe unanswered is not enough)',
      timeoutMs: 30_000,
      async run() {
        const config = { connection: { pathTimeout: 3_000 } }
        const s = await scene(options, config)
        const third = await createTestNode(options.transports(), config)
        try {
          const other = await s.dialer.connect({ peerId: third.peerId, addresses: [...third.addresses] })
          const closes: Array<{ peerId: string; code: number; at: number }> = []
          s.dialer.on('connection:close', (event) => closes.push({ peerId: event.peerId, code: event.code, at: performance.now() }))
          s.proxy.blackhole()
          const changedAt = performance.now()
          const pending = s.conn.send(Buffer.from('into the void')).catch((error: unknown) => error)
          await waitUntil(() => closes.length > 0, 6_000, 'the dead path to close')
          const after = closes[0]!.at - changedAt
          assert.equal(closes[0]!.peerId, s.listener.peerId)
          assert.equal(closes[0]!.code, CloseCode.PATH_LOST)
          assert.ok(after >= 2_800, `closed ${Math.round(after)} ms after it died, before pathTimeout (3000)`)
          assert.ok((await pending) instanceof DeliveryUnknownError)
          await sleep(500)
          assert.equal(closes.length, 1, 'only the dead path closed')
          assert.equal(s.dialer.getConnection(third.peerId), other, 'the live path stayed')
          await other.send(Buffer.from('still here'))
        } finally {
          await teardown([s.dialer, s.listener, third], s.proxy)
        }
      },
    },
  )
  if (options.proxy === 'udp') {
    tests.push({
      name: '10 % datagram loss each way: 300 requests all answered once, nothing closed (default pathTimeout)',
      timeoutMs: 60_000,
      async run() {
        const s = await scene(options, {})
        try {
          let closed = false
          s.dialer.on('connection:close', () => {
            closed = true
          })
          s.proxy.loss = 0.1
          let next = 0
          const answered = new Set<number>()
          await Promise.all(
            Array.from({ length: 16 }, async () => {
              while (next < 300) {
                const n = next++
                const answer = await s.conn.request(Buffer.from(String(n)))
                assert.equal(Buffer.from(answer).toString(), String(n))
                answered.add(n)
              }
            }),
          )
          assert.equal(answered.size, 300)
          assert.equal(s.received.size, 300, 'every request reached the handler')
          assert.equal(s.counts.deliveries, 300, 'no request reached the handler twice')
          assert.ok(s.proxy.dropped > 0, 'the proxy dropped datagrams')
          assert.equal(closed, false, 'the connection was closed')
        } finally {
          await teardown([s.dialer, s.listener], s.proxy)
        }
      },
    })
  }
  return tests
}
