import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { CrustNode } from '../../node.js'
import { CloseCode } from '../../transport/types.js'
import { type NodeCase, PROTOCOL_ERROR } from '../node-case.js'
import { contactOf, waitFor } from '../nodes.js'
import { assertTypedError, within } from '../util.js'

/** The node still serves a well-behaved peer. */
async function stillServes(node: CrustNode, friend: CrustNode): Promise<void> {
  const connection = await friend.connect(contactOf(node))
  assert.equal(Buffer.from(await connection.request(Buffer.from('are you ok?'))).toString(), 'fine', 'the node still serves')
}

/** What a node does with a peer that completes TLS and then breaks the Crust protocol. */
export const badInputCases: readonly NodeCase[] = [
  {
    name: 'bad input: garbage on the first stream after TLS is refused with ProtocolError, and the node keeps serving',
    async body(scope) {
      const node = await scope.server()
      const rejected: Error[] = []
      node.on('connection:rejected', ({ error }) => rejected.push(error))
      const bare = await scope.bareTransport()
      const connection = await bare.dial(node.addresses[0] as string, { expectedPeerId: node.peerId })
      const stream = await connection.openStream({ bidirectional: true })
      await stream.write(randomBytes(4096), { end: true }).catch(() => {}) // the node may reset it first
      await waitFor(() => rejected.length > 0, scope.eventTimeout, 'connection:rejected on the node')
      assertTypedError(rejected[0], PROTOCOL_ERROR, "the node's error")
      const closed = await within(connection.closed, scope.eventTimeout, 'the node to close the connection')
      assert.equal(closed.code, CloseCode.PROTOCOL_ERROR, 'the close code the peer sees')
      assert.equal(node.connections.length, 0, 'the node pooled nothing')
      await stillServes(node, await scope.node())
    },
  },
]
