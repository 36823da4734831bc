import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { ComplianceCase } from '../case.js'
import { acceptStreams } from '../harness.js'
import { digestStream, handled, randomData, settlesWithin, within } from '../util.js'

const CHUNK = 64 * 1024

/** Flow control: a reader that does not read holds its writer back. */
export const backpressureCases: ComplianceCase[] = [
  {
    name: 'backpressure: a writer to a reader that does not read stalls, and resumes when the reader drains',
    timeoutMs: 60_000,
    async body(h, settings) {
      const { outbound, inbound } = await h.connect()
      const accepted = acceptStreams(inbound)
      const stream = await outbound.openStream({ bidirectional: false })
      const hash = createHash('sha256')
      let handedOver = 0
      let pending: Promise<void> | undefined
      // Keep writing while nobody reads, until a write stays pending.
      while (pending === undefined) {
        assert.ok(
          handedOver <= settings.backpressureLimit,
          `${handedOver} bytes were accepted for a reader that reads nothing, and no write stalled for ${settings.stallMs} ms: writes do not wait for flow-control credit`,
        )
        const chunk = randomData(CHUNK)
        hash.update(chunk)
        const write = handled(stream.write(chunk))
        if (await settlesWithin(write, settings.stallMs)) {
          await write
          handedOver += chunk.length
        } else {
          pending = write
        }
      }
      const remote = await accepted.next(h.eventTimeout, 'the stream at the listener')
      assert.equal(await settlesWithin(pending, 0), false)
      // Now the reader drains: the pending write must go through.
      const reading = handled(digestStream(remote))
      await within(pending, h.eventTimeout * 2, `the stalled write (after ${handedOver} bytes) to resolve once the reader drains`)
      const tail = randomData(CHUNK)
      hash.update(tail)
      await within(stream.write(tail, { end: true }), h.eventTimeout, 'a write after the reader drained')
      const received = await within(reading, h.eventTimeout * 2, 'everything to arrive after draining')
      assert.equal(received.length, handedOver + 2 * CHUNK, 'bytes were lost or duplicated around the stall')
      assert.equal(received.sha256, hash.digest('hex'), 'the data around the stall arrived corrupted or out of order')
    },
  },
]
