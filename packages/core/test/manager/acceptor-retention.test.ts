/**
 * What an accepted connection keeps for its life. The stream handler a
 * transport holds for the connection was a closure inside `acceptInbound`,
 * so it kept that call's whole frame: the handshake's stream (through the
 * promise that delivered it), the HELLO and the handshake's closures,
 * ~0.6 KB per idle connection on a QUIC listener. The first stream must be
 * collectable once the handshake is over, while the connection lives on.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import type { TransportStream } from '../../src/transport/types.js'
import { MemoryNetwork, contactOf, createTestNode, memoryTransport, stopTestNodes } from '../../src/testing/index.js'
import { MemoryConnection } from '../../src/testing/memory/connection.js'

const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

afterEach(async () => {
  await stopTestNodes()
})

describe('an accepted connection', () => {
  it('does not keep its handshake stream once the handshake is over', async () => {
    const network = new MemoryNetwork()
    const server = await createTestNode([memoryTransport(network)], { reachability: { check: 'off' } })
    server.handle(() => Buffer.from('ok'))
    // Note every stream a listener-side connection hands to its handler, weakly.
    const delivered: Array<WeakRef<TransportStream>> = []
    const onStream = MemoryConnection.prototype.onStream
    MemoryConnection.prototype.onStream = function (this: MemoryConnection, handler: (stream: TransportStream) => void): void {
      if (this.direction !== 'inbound') {
        onStream.call(this, handler)
        return
      }
      onStream.call(this, (stream) => {
        delivered.push(new WeakRef(stream))
        handler(stream)
      })
    }
    try {
      const client = await createTestNode([memoryTransport(network, { host: '127.0.0.2' })], { role: 'client' })
      const connection = await client.connect(contactOf(server))
      expect(Buffer.from(await connection.request(Buffer.from('hi'))).toString()).toBe('ok')
      // The HELLO's stream and the request's.
      expect(delivered.length).toBeGreaterThanOrEqual(1)
      let kept = delivered.length
      for (let attempt = 0; attempt < 20 && kept > 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 10))
        collectGarbage()
        kept = delivered.filter((ref) => ref.deref() !== undefined).length
      }
      expect(kept).toBe(0)
      expect(server.connections.length).toBe(1) // still connected: only its setup was let go
    } finally {
      MemoryConnection.prototype.onStream = onStream
    }
  })
})
