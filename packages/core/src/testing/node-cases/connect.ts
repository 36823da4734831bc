import assert from 'node:assert/strict'
import type { Connection } from '../../connection/connection.js'
import type { NodeCase, NodeSuiteSettings } from '../node-case.js'
import { contactOf, waitFor } from '../nodes.js'

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost'])

function checkTransportId(connection: Connection, settings: NodeSuiteSettings): void {
  if (settings.transportId !== undefined) assert.equal(connection.transport, settings.transportId, 'Connection.transport')
}

/** A node listens where it says, and another node reaches it by peer id or by address alone. */
export const connectCases: readonly NodeCase[] = [
  {
    name: 'connect: a started node lists concrete loopback addresses (a host and a non-zero port)',
    async body(scope) {
      const node = await scope.node()
      assert.ok(node.addresses.length > 0, 'node.addresses is empty after start()')
      for (const address of node.addresses) {
        const url = new URL(address)
        assert.ok(LOOPBACK.has(url.hostname), `${address}: not a loopback host`)
        assert.ok(Number(url.port) > 0, `${address}: no concrete port`)
      }
    },
  },
  {
    name: 'connect: by peer id and addresses, and both nodes pool the connection',
    async body(scope, settings) {
      const a = await scope.node()
      const b = await scope.node()
      const connection = await a.connect(contactOf(b))
      assert.equal(connection.peerId, b.peerId, 'the connection is to the dialled peer')
      checkTransportId(connection, settings)
      assert.equal(a.getConnection(b.peerId), connection, 'the dialler pools the connection under the peer id')
      await waitFor(() => b.getConnection(a.peerId) !== undefined, settings.eventTimeout, 'the listener to pool the connection')
      const back = b.getConnection(a.peerId)
      assert.equal(back?.peerId, a.peerId, "the listener's connection is to the dialler")
      checkTransportId(back as Connection, settings)
    },
  },
  {
    name: 'connect: by address alone, learning the peer id from the certificate',
    async body(scope) {
      const a = await scope.node()
      const b = await scope.node()
      const connection = await a.connect({ addresses: b.addresses })
      assert.equal(connection.peerId, b.peerId, 'the peer id learned from the certificate')
      assert.equal(a.getConnection(b.peerId), connection, 'the dialler pools the connection under the learned peer id')
    },
  },
]
