import assert from 'node:assert/strict'
import { parseAddress } from '../../transport/address.js'
import { CloseCode, type TransportConnection } from '../../transport/types.js'
import type { ComplianceCase } from '../case.js'
import { assertTypedError, rejection, settlesWithin, sleep, waitUntil, within } from '../util.js'

function portOf(address: string): number | undefined {
  return parseAddress(address)?.port
}

/** Authentication of both ends by the core's `peer-id` auth mode. */
export const authCases: ComplianceCase[] = [
  {
    name: 'auth: dial authenticates the listener, and the listener authenticates the dialer',
    async body(h) {
      const { listener, dialer } = h
      const { outbound, inbound } = await h.connect()
      assert.equal(outbound.remotePeer.peerId, listener.peerId, "the dialer's remotePeer is not the listener's peer id")
      assert.equal(inbound.remotePeer.peerId, dialer.peerId, "the listener's remotePeer is not the dialer's peer id")
      assert.equal(outbound.direction, 'outbound')
      assert.equal(inbound.direction, 'inbound')
      assert.equal(outbound.transport, dialer.transport.id, "connection.transport is not the transport's id")
      assert.equal(inbound.transport, listener.transport.id, "connection.transport is not the transport's id")
      for (const [label, connection] of [
        ['outbound', outbound],
        ['inbound', inbound],
      ] as Array<[string, TransportConnection]>) {
        for (const address of [connection.remoteAddress, connection.localAddress]) {
          assert.equal(parseAddress(address)?.transport, dialer.transport.id, `${label} connection address ${address} is not in the transport's scheme`)
        }
      }
      assert.equal(portOf(outbound.remoteAddress), portOf(inbound.localAddress), "the dialer's remoteAddress and the listener's localAddress disagree")
      assert.equal(portOf(inbound.remoteAddress), portOf(outbound.localAddress), "the listener's remoteAddress and the dialer's localAddress disagree")

      // Without expectedPeerId the dialer learns who answered.
      const learned = await within(h.dial({}), h.eventTimeout * 2, 'dial without expectedPeerId')
      assert.equal(learned.remotePeer.peerId, listener.peerId, 'a dial without expectedPeerId did not learn the listener peer id')
      const second = await listener.inbound.next(h.eventTimeout, 'the second inbound connection')
      assert.equal(second.remotePeer.peerId, dialer.peerId)
    },
  },
  {
    name: 'auth: an expectedPeerId that does not match rejects with AuthenticationError, and the listener reports a failure or an AUTH_FAILED close',
    async body(h) {
      await h.listen()
      const error = await rejection(
        h.dial({ expectedPeerId: h.strangerPeerId }),
        h.eventTimeout * 2,
        'dial with the wrong expectedPeerId',
        (c) => c.close(),
      )
      assertTypedError(error, { name: 'AuthenticationError', code: 'ERR_AUTHENTICATION' }, 'dial with the wrong expectedPeerId')

      const { inbound, failures } = h.listener
      await waitUntil(
        () => failures.count > 0 || inbound.count > 0,
        h.eventTimeout,
        'the listener to report the refused attempt (onInboundFailure) or hand over a connection that then closes',
      )
      // A listener that handed the connection over must see it closed, for an authentication reason.
      for (const connection of inbound.items) {
        const info = await within(connection.closed, h.eventTimeout, 'the refused connection to close on the listener')
        assert.equal(info.code, CloseCode.AUTH_FAILED, `the listener's connection closed with code ${info.code} (${info.reason}), not AUTH_FAILED`)
      }
      for (const failure of failures.items) assert.ok(failure.error instanceof Error, 'onInboundFailure got a non-Error')
      // The refused dial leaves the transports usable.
      await sleep(50)
      const good = await within(h.dial(), h.eventTimeout * 2, 'a correct dial after the refused one')
      assert.equal(good.remotePeer.peerId, h.listener.peerId)
      assert.equal(await settlesWithin(good.closed, 50), false, 'the good connection closed at once')
    },
  },
  {
    name: 'auth: the listener refuses a dialer whose certificate fails the auth mode, reports an AuthenticationError and hands nothing over',
    async body(h) {
      await h.listen()
      const impostor = await h.impostor()
      const { inbound, failures } = h.listener
      // The dial may resolve (the listener's own certificate is fine) and then be closed by the listener, or be refused outright.
      const outcome = await within(
        impostor.transport.dial(h.address, { expectedPeerId: h.listener.peerId }).then(
          (connection) => ({ connection }),
          (error: unknown) => ({ error }),
        ),
        h.eventTimeout * 2,
        'a dial with an expired certificate',
      )
      if ('error' in outcome) {
        assertTypedError(outcome.error, { name: 'AuthenticationError', code: 'ERR_AUTHENTICATION' }, 'a dial the listener refused')
      } else {
        const info = await within(outcome.connection.closed, h.eventTimeout, "the refused dialer's connection to close")
        assert.equal(info.code, CloseCode.AUTH_FAILED, `the refused dialer's connection closed with code ${info.code} (${info.reason}), not AUTH_FAILED`)
        assert.equal(info.remote, true, "the refused dialer's connection was not closed by the listener")
      }
      const failure = await failures.next(h.eventTimeout, 'the listener to report the refused certificate (onInboundFailure)')
      assertTypedError(failure.error, { name: 'AuthenticationError', code: 'ERR_AUTHENTICATION' }, "the listener's onInboundFailure")
      await sleep(100)
      assert.equal(inbound.count, 0, 'the listener handed over a connection whose certificate it should refuse')
    },
  },
]
