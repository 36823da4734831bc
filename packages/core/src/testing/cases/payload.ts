import assert from 'node:assert/strict'
import type { TransportConnection, TransportStream } from '../../transport/types.js'
import type { Collector } from '../collector.js'
import type { ComplianceCase } from '../case.js'
import { acceptStreams } from '../harness.js'
import { digestStream, handled, randomData, sha256, within } from '../util.js'

const KiB = 1024
const MiB = 1024 * KiB

/**
 * Send `chunks` on a new unidirectional stream from `from`, one `write` each
 * (the last with `end`), and check the stream `accepted` at the other end
 * delivers exactly those bytes, in order, then its end. `timeoutMs` bounds the
 * arrival of the data, `eventTimeout` the stream's appearance and the writes.
 */
async function transfer(
  from: TransportConnection,
  accepted: Collector<TransportStream>,
  chunks: readonly Uint8Array[],
  what: string,
  timeoutMs: number,
  eventTimeout: number,
): Promise<void> {
  const expected = sha256(...chunks)
  const length = chunks.reduce((n, c) => n + c.length, 0)
  const stream = await from.openStream({ bidirectional: false })
  const writing = handled(
    (async () => {
      for (const [i, chunk] of chunks.entries()) await stream.write(chunk, { end: i === chunks.length - 1 })
    })(),
  )
  const remote = await accepted.next(eventTimeout, `the stream carrying ${what}`)
  const received = await within(digestStream(remote), timeoutMs, `${what} to arrive`)
  await within(writing, eventTimeout, `the writes of ${what} to resolve`)
  assert.equal(received.length, length, `${what}: ${received.length} bytes arrived, ${length} were sent`)
  assert.equal(received.sha256, expected, `${what}: the bytes arrived corrupted or out of order (sha256 differs)`)
}

/** Payload integrity: small, large and many writes. */
export const payloadCases: ComplianceCase[] = [
  {
    name: 'data: a single 1 KiB write arrives intact',
    async body(h) {
      const { outbound, inbound } = await h.connect()
      await transfer(outbound, acceptStreams(inbound), [randomData(KiB)], '1 KiB in one write', h.eventTimeout, h.eventTimeout)
    },
  },
  {
    name: 'data: a single 10 MiB write arrives intact (sha256), in both directions',
    timeoutMs: 90_000,
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const data = randomData(10 * MiB)
      await transfer(outbound, acceptStreams(inbound), [data], '10 MiB from the dialer in one write', 30_000, h.eventTimeout)
      await transfer(inbound, acceptStreams(outbound), [data], '10 MiB from the listener in one write', 30_000, h.eventTimeout)
    },
  },
  {
    name: 'data: 2,000 writes of 1 KiB on one stream arrive intact and in order',
    timeoutMs: 60_000,
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const chunks = Array.from({ length: 2000 }, (_, i) => {
        const chunk = randomData(KiB)
        chunk.writeUInt32BE(i, 0) // distinct even if the random bytes were not
        return chunk
      })
      await transfer(outbound, acceptStreams(inbound), chunks, '2,000 writes of 1 KiB', 30_000, h.eventTimeout)
    },
  },
]
