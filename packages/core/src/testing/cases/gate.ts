import assert from 'node:assert/strict'
import { parseAddress } from '../../transport/address.js'
import { CloseCode } from '../../transport/types.js'
import type { ComplianceCase } from '../case.js'
import { codeOf, describeError, rejection, sleep, waitUntil, within } from '../util.js'

/** The core's connection gate. */
export const gateCases: ComplianceCase[] = [
  {
    name: 'gate: a connection the gate refuses is dropped, leaving nothing open on either side',
    async body(h) {
      await h.listen()
      const { gate, inbound, failures } = h.listener
      gate.decision = { allow: false, code: CloseCode.LIMIT_REACHED, reason: 'compliance: refused by the gate' }
      const error = await rejection(h.dial(), h.eventTimeout * 2, 'a dial the gate refuses', (c) => c.close())
      assert.ok(codeOf(error)?.startsWith('ERR_'), `the refused dial rejected with an untyped error: ${describeError(error)}`)
      assert.ok(gate.refused >= 1, 'the listener never consulted its gate')
      await sleep(200)
      assert.equal(inbound.count, 0, 'the listener handed over a connection its gate refused')
      assert.equal(gate.admitted, 0)
      assert.equal(gate.released, 0, 'release was called for a refused attempt')
      for (const failure of failures.items) assert.ok(failure.error instanceof Error)

      // The gate is asked again for each attempt.
      gate.decision = { allow: true }
      const connection = await within(h.dial(), h.eventTimeout * 2, 'a dial after the gate allows again')
      assert.equal(connection.remotePeer.peerId, h.listener.peerId)
    },
  },
  {
    name: 'gate: each inbound attempt is gated once with its remote address, and released once when it ends',
    async body(h) {
      const pairs = [await h.connect(), await h.connect(), await h.connect()]
      const { gate, transport } = h.listener
      assert.equal(gate.admitted, 3, `the gate was consulted ${gate.admitted} times for 3 connections`)
      assert.equal(gate.released, 0, 'an attempt was released while its connection is open')
      for (const [i, seen] of gate.seen.entries()) {
        assert.equal(seen.transport, transport.id, "the gate's SocketAddress is not in the transport's scheme")
        const remote = parseAddress(pairs[i]?.inbound.remoteAddress ?? '')
        assert.deepEqual({ host: seen.host, port: seen.port }, { host: remote?.host, port: remote?.port }, "the gate saw another address than the connection's remoteAddress")
      }
      const [first, second] = pairs as [(typeof pairs)[0], (typeof pairs)[0]]
      await within(first.outbound.close(), h.eventTimeout, 'close() of the first connection (dialer)')
      await waitUntil(() => gate.released === 1, h.eventTimeout, `one release after one connection closed (released ${gate.released})`)
      await within(second.inbound.close(), h.eventTimeout, 'close() of the second connection (listener)')
      await waitUntil(() => gate.released === 2, h.eventTimeout, `two releases after two connections closed (released ${gate.released})`)
      assert.equal(gate.extraReleases, 0, 'release was called twice for one attempt')
    },
  },
]
