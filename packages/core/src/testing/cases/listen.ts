import assert from 'node:assert/strict'
import { parseAddress } from '../../transport/address.js'
import type { ComplianceCase } from '../case.js'
import { codeOf, describeError, rejection, sleep, within } from '../util.js'

/** Listening, addresses, and `Transport.close()`. */
export const listenCases: ComplianceCase[] = [
  {
    name: 'listen: addresses() is non-empty, in the transport scheme, and every address is dialable',
    async body(h) {
      const { listener, dialer } = h
      const addresses = await h.listen()
      for (const address of addresses) {
        const parsed = parseAddress(address)
        assert.ok(parsed !== undefined, `addresses() returned ${address}, which is not a transport address`)
        assert.equal(parsed.transport, listener.transport.id, `address ${address} is not in the transport's scheme`)
        assert.notEqual(parsed.port, 0, `address ${address} still has port 0 after listen()`)
        assert.ok(listener.transport.canDial(address), `canDial(${address}) is false for its own address`)
        assert.ok(dialer.transport.canDial(address), `another instance cannot dial ${address}`)
      }
      assert.equal(dialer.transport.canDial('crust-no-such-scheme://127.0.0.1:1'), false, 'canDial accepts a foreign scheme')
      for (const address of addresses) {
        const connection = await within(h.dial(undefined, address), h.eventTimeout * 2, `dial(${address})`)
        assert.equal(connection.remotePeer.peerId, listener.peerId, `dial(${address}) reached another peer`)
        await within(connection.close(), h.eventTimeout, `close() of the connection to ${address}`)
      }
    },
  },
  {
    name: 'close(): stops listening, so a later dial fails with a typed error',
    async body(h) {
      const addresses = await h.listen()
      await within(h.listener.transport.close(), h.eventTimeout, 'the listener transport close()')
      assert.deepEqual(h.listener.transport.addresses(), [], 'addresses() still lists addresses after close()')
      for (const address of addresses) {
        const error = await rejection(h.dial(undefined, address), h.eventTimeout * 2, `dial(${address}) after close()`, (c) =>
          c.close(),
        )
        assert.ok(codeOf(error)?.startsWith('ERR_'), `dial after close() rejected with an untyped error: ${describeError(error)}`)
      }
      await sleep(100)
      assert.equal(h.listener.inbound.count, 0, 'the closed listener still accepted a connection')
    },
  },
  {
    name: 'close(): closes every connection the transport made, and the other end sees it closed remotely',
    async body(h) {
      const pairs = [await h.connect(), await h.connect()]
      await within(h.listener.transport.close(), h.eventTimeout * 2, 'the listener transport close()')
      const inbound = await within(
        Promise.all(pairs.map((p) => p.inbound.closed)),
        h.eventTimeout,
        "closed of the listener's connections",
      )
      const outbound = await within(
        Promise.all(pairs.map((p) => p.outbound.closed)),
        h.eventTimeout,
        "closed of the dialer's connections",
      )
      for (const info of inbound) assert.equal(info.remote, false, 'the closing side reports its own close as remote')
      for (const info of outbound) assert.equal(info.remote, true, 'the other side does not report the close as remote')
      for (const { outbound: connection } of pairs) {
        await rejection(connection.openStream({ bidirectional: true }), h.eventTimeout, 'openStream() on a closed connection', (s) =>
          s.reset(),
        )
      }
    },
  },
  {
    name: 'close(): a dial still in progress when its transport closes rejects promptly with a typed error',
    async body(h) {
      await h.listen()
      let closing: Promise<void> | undefined
      // Close the dialing transport while its dial is mid-handshake (the listener's gate just saw it).
      h.listener.gate.onAdmit = () => {
        closing = h.dialer.transport.close()
      }
      const error = await rejection(h.dial(), h.eventTimeout, 'a dial whose transport closed under it', (c) => c.close())
      h.listener.gate.onAdmit = undefined
      assert.ok(closing !== undefined, 'the listener never consulted its gate, so the close did not happen mid-dial')
      assert.ok(codeOf(error)?.startsWith('ERR_'), `the interrupted dial rejected with an untyped error: ${describeError(error)}`)
      await within(closing, h.eventTimeout, "the dialer transport's close()")
      await sleep(100)
      assert.equal(h.listener.inbound.count, 0, 'the listener handed over a connection whose dialer closed mid-handshake')
    },
  },
]
