import assert from 'node:assert/strict'
import type { TransportConnection, TransportStream } from '../../transport/types.js'
import type { ComplianceCase } from '../case.js'
import { acceptStreams } from '../harness.js'
import { echo, handled, randomData, readAll, rejection, sleep, within } from '../util.js'

/** Echo every stream the remote opens on `connection`; returns the accepted streams as they come. */
function serveEcho(connection: TransportConnection): TransportStream[] {
  const accepted: TransportStream[] = []
  connection.onStream((stream) => {
    accepted.push(stream)
    void echo(stream)
  })
  return accepted
}

/** Open a bidirectional stream, send `parts` then FIN, and return everything read back. */
async function roundTrip(connection: TransportConnection, parts: Uint8Array[]): Promise<{ stream: TransportStream; reply: Buffer }> {
  const stream = await connection.openStream({ bidirectional: true })
  const reading = handled(readAll(stream))
  for (const part of parts) await stream.write(part)
  await stream.end()
  return { stream, reply: await reading }
}

/** Streams: echo, unidirectional, early streams, many at once. */
export const streamCases: ComplianceCase[] = [
  {
    name: 'streams: a bidirectional stream echoes, whichever side opens it',
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const atListener = serveEcho(inbound)
      const atDialer = serveEcho(outbound)
      for (const [opener, accepted, who] of [
        [outbound, atListener, 'dialer'],
        [inbound, atDialer, 'listener'],
      ] as Array<[TransportConnection, TransportStream[], string]>) {
        const parts = [Buffer.from(`hello from the ${who}`), randomData(3000)]
        const { stream, reply } = await within(roundTrip(opener, parts), h.eventTimeout, `an echo on a stream the ${who} opened`)
        assert.ok(Buffer.concat(parts).equals(reply), `the echo on a stream the ${who} opened differs from what was sent`)
        assert.equal(stream.direction, 'outbound', 'the opener sees its stream as inbound')
        assert.equal(stream.bidirectional, true)
        const remote = accepted[0]
        assert.ok(remote !== undefined, `the other side never got the stream the ${who} opened`)
        assert.equal(remote.direction, 'inbound', 'the acceptor sees the stream as outbound')
        assert.equal(remote.bidirectional, true, 'the acceptor sees a bidirectional stream as unidirectional')
      }
    },
  },
  {
    name: 'streams: a unidirectional stream delivers its data and FIN, and its acceptor cannot write',
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const accepted = acceptStreams(inbound)
      const stream = await outbound.openStream({ bidirectional: false })
      assert.equal(stream.bidirectional, false)
      assert.equal(stream.direction, 'outbound')
      const first = randomData(40_000)
      const last = randomData(1000)
      await within(stream.write(first), h.eventTimeout, 'the first write')
      await within(stream.write(last, { end: true }), h.eventTimeout, 'the last write, with end')
      const remote = await accepted.next(h.eventTimeout, 'the unidirectional stream at the listener')
      assert.equal(remote.bidirectional, false, 'the acceptor sees a unidirectional stream as bidirectional')
      assert.equal(remote.direction, 'inbound')
      const received = await within(readAll(remote), h.eventTimeout, 'the data and FIN of the unidirectional stream')
      assert.ok(Buffer.concat([first, last]).equals(received), 'the unidirectional stream delivered other bytes')
      await rejection(remote.write(Buffer.from('nope')), h.eventTimeout, 'a write by the acceptor of a unidirectional stream')
    },
  },
  {
    name: 'streams: streams that arrive before onStream is set are delivered once it is',
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const data = [randomData(500), randomData(700)]
      for (const part of data) {
        const stream = await outbound.openStream({ bidirectional: false })
        await within(stream.write(part, { end: true }), h.eventTimeout, 'a write with end')
      }
      await sleep(200) // both streams reach the listener, which has no handler yet
      const accepted = acceptStreams(inbound)
      for (const [i, part] of data.entries()) {
        const stream = await accepted.next(h.eventTimeout, `early stream ${i + 1} after onStream was set`)
        const received = await within(readAll(stream), h.eventTimeout, `the data of early stream ${i + 1}`)
        assert.ok(part.equals(received), `early stream ${i + 1} delivered other bytes (or out of order)`)
      }
    },
  },
  {
    name: 'streams: 200 concurrent bidirectional streams each echo their own data',
    timeoutMs: 60_000,
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const accepted = serveEcho(inbound)
      const count = 200
      const payloads = Array.from({ length: count }, (_, i) =>
        Buffer.concat([Buffer.from(`stream ${i}:`), randomData(1 + Math.floor(Math.random() * 16_384))]),
      )
      const results = await within(
        Promise.all(payloads.map((payload) => roundTrip(outbound, [payload]))),
        h.eventTimeout * 4,
        `${count} concurrent echoes`,
      )
      for (const [i, { reply }] of results.entries()) {
        assert.ok(payloads[i]?.equals(reply), `stream ${i} of ${count} echoed other data (${reply.length} bytes)`)
      }
      const ids = new Set(results.map((r) => r.stream.id))
      assert.equal(ids.size, count, 'stream ids are not unique within the connection (opener side)')
      assert.equal(accepted.length, count, `the listener accepted ${accepted.length} streams, not ${count}`)
      assert.equal(new Set(accepted.map((s) => s.id)).size, count, 'stream ids are not unique within the connection (acceptor side)')
    },
  },
]
