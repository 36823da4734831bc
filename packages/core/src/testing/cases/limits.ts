import assert from 'node:assert/strict'
import { CloseCode, type TransportStream } from '../../transport/types.js'
import type { ComplianceCase } from '../case.js'
import { acceptStreams } from '../harness.js'
import { handled, readAll, settlesWithin, sleep, within } from '../util.js'

/** Wait until `count()` has not changed for `quietMs`; returns it. */
async function plateau(count: () => number, quietMs: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs
  let last = count()
  let since = Date.now()
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error(`the number of accepted streams kept changing for ${maxMs} ms`)
    await sleep(20)
    const now = count()
    if (now !== last) {
      last = now
      since = Date.now()
    }
  }
  return last
}

/** The limits the core hands to the transport: stream credit, idle timeout, keep-alive. */
export const limitCases: ComplianceCase[] = [
  {
    name: 'limits: the remote never has more than maxInboundStreams streams open at once; openStream waits for credit instead of failing',
    timeoutMs: 60_000,
    limits: { listener: { maxInboundStreams: 64 } },
    async body(h) {
      const limit = h.listener.limits.maxInboundStreams
      const total = limit + 40
      const { outbound, inbound } = await h.connect()
      const accepted = acceptStreams(inbound)
      // Stream i sends its index and stays open until the test finishes it.
      const opened = new Map<number, TransportStream>()
      const opening = handled(
        Promise.all(
          Array.from({ length: total }, async (_, i) => {
            const stream = await outbound.openStream({ bidirectional: true })
            opened.set(i, stream)
            const tag = Buffer.alloc(4)
            tag.writeUInt32BE(i)
            await stream.write(tag)
            return stream
          }),
        ),
      )
      /** Close both directions of the stream pair `remote` belongs to. */
      const finish = async (remote: TransportStream): Promise<void> => {
        const iterator = remote[Symbol.asyncIterator]()
        let head = Buffer.alloc(0)
        while (head.length < 4) {
          const next = await iterator.next()
          assert.ok(next.done !== true, 'a stream ended before its tag arrived')
          head = Buffer.concat([head, next.value])
        }
        const local = opened.get(head.readUInt32BE(0))
        assert.ok(local !== undefined, 'a stream arrived whose openStream has not resolved')
        await Promise.all([remote.end(), local.end()])
        await Promise.all([readAll({ [Symbol.asyncIterator]: () => iterator }), readAll(local)])
      }
      let finished = 0
      let rounds = 0
      while (finished < total) {
        assert.ok(++rounds <= total, 'no progress: streams waiting for credit never got it')
        const count = await plateau(() => accepted.count, 300, h.eventTimeout * 2)
        const open = count - finished
        assert.ok(open <= limit, `the listener had ${open} streams from the dialer open at once, over maxInboundStreams ${limit}`)
        assert.ok(open > 0, `no stream arrived after ${finished} finished: openStream is stuck`)
        if (count < total) {
          assert.equal(await settlesWithin(opening, 0), false, 'every openStream resolved although the peer allowed fewer streams')
        }
        // Finish every open stream (both directions): the peer may open more.
        const batch = accepted.items.slice(finished, count)
        // Opener-side streams may resolve a little after the acceptor sees them.
        await within(Promise.all(batch.map(finish)), h.eventTimeout * 2, `finishing ${batch.length} streams`)
        finished = count
      }
      const streams = await within(opening, h.eventTimeout, 'every openStream to resolve')
      assert.equal(streams.length, total)
    },
  },
  {
    name: 'limits: keep-alives keep a quiet connection open past the idle timeout',
    timeoutMs: 20_000,
    limits: {
      listener: { idleTimeout: 1000, keepAliveInterval: 200 },
      dialer: { idleTimeout: 1000, keepAliveInterval: 200 },
    },
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const closed = Promise.race([outbound.closed, inbound.closed])
      assert.equal(await settlesWithin(closed, 2500), false, 'a connection with keep-alives closed within 2.5 s of silence (idleTimeout 1 s)')
    },
  },
  {
    name: 'limits: a quiet connection closes after idleTimeout, with IDLE_TIMEOUT at both ends',
    timeoutMs: 20_000,
    limits: {
      listener: { idleTimeout: 500, keepAliveInterval: 0 },
      dialer: { idleTimeout: 0, keepAliveInterval: 0 },
    },
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const start = Date.now()
      const local = await within(inbound.closed, h.eventTimeout, 'the idle timeout to close the listener end')
      const elapsed = Date.now() - start
      assert.ok(elapsed >= 300, `the idle connection closed after ${elapsed} ms, before idleTimeout (500 ms)`)
      const remote = await within(outbound.closed, h.eventTimeout, 'the dialer end to close')
      assert.deepEqual({ code: local.code, remote: local.remote }, { code: CloseCode.IDLE_TIMEOUT, remote: false }, 'closed at the listener')
      assert.deepEqual({ code: remote.code, remote: remote.remote }, { code: CloseCode.IDLE_TIMEOUT, remote: true }, 'closed at the dialer')
    },
  },
]
