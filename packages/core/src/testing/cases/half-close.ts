import assert from 'node:assert/strict'
import type { ComplianceCase } from '../case.js'
import { acceptStreams } from '../harness.js'
import { handled, readAll, settlesWithin, within } from '../util.js'

/** Half-close: each direction of a bidirectional stream ends on its own. */
export const halfCloseCases: ComplianceCase[] = [
  {
    name: 'half-close: after the dialer ends its write side it still reads the reply',
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const accepted = acceptStreams(inbound)
      const stream = await outbound.openStream({ bidirectional: true })
      const request = Buffer.from('request: the dialer writes this, then ends')
      await within(stream.write(request), h.eventTimeout, 'the request write')
      await within(stream.end(), h.eventTimeout, "the dialer's end()")
      const remote = await accepted.next(h.eventTimeout, 'the stream at the listener')
      const received = await within(readAll(remote), h.eventTimeout, "the request and the dialer's FIN at the listener")
      assert.ok(request.equals(received), 'the listener read another request')
      // Only now, after the dialer's FIN, does the listener answer.
      const reply = [Buffer.from('reply part 1 / '), Buffer.from('reply part 2')]
      const reading = handled(readAll(stream))
      assert.equal(await settlesWithin(reading, 50), false, "the dialer's read ended before the listener ended its side")
      await within(remote.write(reply[0] as Buffer), h.eventTimeout, 'the first reply write')
      await within(remote.write(reply[1] as Buffer, { end: true }), h.eventTimeout, 'the last reply write, with end')
      const answer = await within(reading, h.eventTimeout, 'the reply at the dialer, after it ended its write side')
      assert.ok(Buffer.concat(reply).equals(answer), 'the dialer read another reply')
    },
  },
  {
    name: 'half-close: after the listener ends its write side it still reads what the dialer sends',
    async body(h) {
      const { outbound, inbound } = await h.connect()
      const accepted = acceptStreams(inbound)
      const stream = await outbound.openStream({ bidirectional: true })
      const hello = Buffer.from('hello; ')
      await within(stream.write(hello), h.eventTimeout, 'the first write')
      const remote = await accepted.next(h.eventTimeout, 'the stream at the listener')
      const greeting = Buffer.from('greeting: the listener writes this and ends before reading anything')
      await within(remote.write(greeting, { end: true }), h.eventTimeout, "the listener's write with end")
      // The dialer sees the listener's side end while its own is still open.
      const fromListener = await within(readAll(stream), h.eventTimeout, "the listener's data and FIN at the dialer")
      assert.ok(greeting.equals(fromListener), 'the dialer read another greeting')
      const rest = Buffer.from('and this comes after the listener ended its side')
      await within(stream.write(rest, { end: true }), h.eventTimeout, "the dialer's write after the listener ended")
      const received = await within(readAll(remote), h.eventTimeout, "the dialer's data at the listener, after the listener ended")
      assert.ok(Buffer.concat([hello, rest]).equals(received), 'the listener read other data after ending its write side')
    },
  },
]
