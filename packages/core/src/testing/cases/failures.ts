import assert from 'node:assert/strict'
import { parseAddress } from '../../transport/address.js'
import type { ComplianceCase } from '../case.js'
import { codeOf, describeError, rejection, sleep } from '../util.js'

/** Reporting inbound attempts that fail before they become connections. */
export const failureCases: ComplianceCase[] = [
  {
    name: 'failures: an inbound attempt that dies mid-handshake is reported through onInboundFailure, with the address the gate saw',
    async body(h) {
      await h.listen()
      const { gate, failures, transport } = h.listener
      const controller = new AbortController()
      gate.onAdmit = () => controller.abort() // the dialer vanishes right after the listener saw it
      await rejection(h.dial({ expectedPeerId: h.listener.peerId, signal: controller.signal }), h.eventTimeout * 2, 'the vanishing dial', (c) =>
        c.close(),
      )
      gate.onAdmit = undefined
      const seen = gate.seen[0]
      assert.ok(seen !== undefined, 'the listener never consulted its gate')
      const failure = await failures.next(h.eventTimeout, 'the listener to report the attempt that died mid-handshake (onInboundFailure)')
      const parsed = parseAddress(failure.remoteAddress)
      assert.ok(parsed !== undefined, `onInboundFailure got remoteAddress "${failure.remoteAddress}", which is not an address`)
      assert.equal(parsed.transport, transport.id, `onInboundFailure's address ${failure.remoteAddress} is not in the transport's scheme`)
      assert.deepEqual(
        { host: parsed.host, port: parsed.port },
        { host: seen.host, port: seen.port },
        `onInboundFailure reported ${failure.remoteAddress}, but the attempt came from ${seen.host} port ${seen.port}`,
      )
      assert.ok(codeOf(failure.error)?.startsWith('ERR_'), `onInboundFailure got an untyped error: ${describeError(failure.error)}`)
      // Nobody dialled: a failed inbound handshake is e.g. ERR_HANDSHAKE_FAILED or ERR_TIMEOUT, never a dial failure.
      assert.notEqual(codeOf(failure.error), 'ERR_DIAL_FAILED', `onInboundFailure got a DialError for an inbound attempt: ${describeError(failure.error)}`)
      await sleep(200)
      assert.equal(failures.count, 1, `one failed attempt was reported ${failures.count} times`)
    },
  },
]
