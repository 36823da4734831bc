import assert from 'node:assert/strict'
import type { ComplianceCase } from '../case.js'
import type { Harness } from '../harness.js'
import { assertTypedError, rejection, sleep, waitUntil, within } from '../util.js'

const abortError = { name: 'AbortError', code: 'ERR_ABORTED' } as const

/** After an aborted dial: nothing reached the listener's core and the transports still work. */
async function assertNothingLeft(h: Harness, what: string): Promise<void> {
  const { gate, inbound } = h.listener
  await waitUntil(
    () => gate.outstanding === 0,
    h.eventTimeout,
    `the listener to drop the attempt of ${what} (gate admitted ${gate.admitted}, released ${gate.released})`,
  )
  await sleep(200)
  assert.equal(inbound.count, 0, `the listener handed over a connection for ${what}`)
  const connection = await within(h.dial(), h.eventTimeout * 2, `a normal dial after ${what}`)
  assert.equal(connection.remotePeer.peerId, h.listener.peerId)
}

/** Cancelling dials and stream opens with an AbortSignal. */
export const abortCases: ComplianceCase[] = [
  {
    name: 'abort: a dial with an already-aborted signal rejects with AbortError and opens nothing',
    async body(h) {
      await h.listen()
      const controller = new AbortController()
      controller.abort()
      const error = await rejection(
        h.dial({ expectedPeerId: h.listener.peerId, signal: controller.signal }),
        h.eventTimeout,
        'dial with an aborted signal',
        (c) => c.close(),
      )
      assertTypedError(error, abortError, 'dial with an aborted signal')
      await assertNothingLeft(h, 'a dial aborted before it started')
    },
  },
  {
    name: 'abort: a dial aborted mid-handshake rejects with AbortError and leaves no connection on either side',
    async body(h) {
      await h.listen()
      const controller = new AbortController()
      // The gate runs when the listener first sees the attempt, before any
      // TLS work: abort right there, with the handshake under way.
      h.listener.gate.onAdmit = () => controller.abort()
      const error = await rejection(
        h.dial({ expectedPeerId: h.listener.peerId, signal: controller.signal }),
        h.eventTimeout * 2,
        'dial aborted mid-handshake',
        (c) => c.close(),
      )
      h.listener.gate.onAdmit = undefined
      assert.ok(h.listener.gate.admitted >= 1, 'the listener never consulted its gate, so the abort did not happen mid-handshake')
      assertTypedError(error, abortError, 'dial aborted mid-handshake')
      await assertNothingLeft(h, 'a dial aborted mid-handshake')
    },
  },
  {
    name: 'abort: openStream with an aborted signal rejects with AbortError',
    async body(h) {
      const { outbound } = await h.connect()
      const controller = new AbortController()
      controller.abort()
      const error = await rejection(
        outbound.openStream({ bidirectional: true, signal: controller.signal }),
        h.eventTimeout,
        'openStream with an aborted signal',
        (s) => s.reset(),
      )
      assertTypedError(error, abortError, 'openStream with an aborted signal')
    },
  },
]
