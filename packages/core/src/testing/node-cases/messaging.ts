import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { NodeCase } from '../node-case.js'
import { contactOf, waitFor } from '../nodes.js'
import { sha256 } from '../util.js'

const MiB = 1024 * 1024
const text = (data: Uint8Array): string => Buffer.from(data).toString()

/** Messages and requests between two nodes: both directions, concurrency, and a large payload. */
export const messagingCases: readonly NodeCase[] = [
  {
    name: 'messaging: sends and requests arrive both ways, attributed to the sender',
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.node()
      const seenByA: string[] = []
      const seenByB: string[] = []
      a.handle((message) => {
        seenByA.push(`${message.peerId}:${text(message.data)}`)
        return message.isRequest ? Buffer.from(`a answers ${text(message.data)}`) : undefined
      })
      b.handle((message) => {
        seenByB.push(`${message.peerId}:${text(message.data)}`)
        return message.isRequest ? Buffer.from(`b answers ${text(message.data)}`) : undefined
      })
      const connection = await a.connect(contactOf(b))
      await connection.send(Buffer.from('hello b'))
      assert.equal(text(await connection.request(Buffer.from('ping'))), 'b answers ping')
      await waitFor(() => b.getConnection(a.peerId) !== undefined, eventTimeout, 'the listener to pool the connection')
      const back = b.getConnection(a.peerId)
      assert.ok(back !== undefined)
      await back.send(Buffer.from('hello a'))
      assert.equal(text(await back.request(Buffer.from('pong'))), 'a answers pong')
      await waitFor(() => seenByA.length === 2 && seenByB.length === 2, eventTimeout, 'both messages on both sides')
      assert.deepEqual(seenByB, [`${a.peerId}:hello b`, `${a.peerId}:ping`])
      assert.deepEqual(seenByA, [`${b.peerId}:hello a`, `${b.peerId}:pong`])
    },
  },
  {
    name: 'messaging: 32 concurrent requests on one connection each get their own answer',
    async body(scope) {
      const a = await scope.node()
      const b = await scope.node()
      b.handle((message) => (message.isRequest ? Buffer.from(`answer to ${text(message.data)}`) : undefined))
      const connection = await a.connect(contactOf(b))
      const answers = await Promise.all(Array.from({ length: 32 }, (_, i) => connection.request(Buffer.from(`request ${i}`))))
      for (const [i, answer] of answers.entries()) assert.equal(text(answer), `answer to request ${i}`)
      assert.equal(a.connections.length, 1, 'the requests share one connection')
    },
  },
  {
    name: 'messaging: 1 MiB messages arrive intact both ways (a send, a request and its answer, hash-checked)',
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.node()
      const sent = randomBytes(MiB)
      const requested = randomBytes(MiB)
      const answer = randomBytes(MiB)
      const received: string[] = []
      b.handle((message) => {
        if (!message.isRequest) {
          received.push(sha256(message.data))
          return undefined
        }
        assert.equal(sha256(message.data), sha256(requested), 'the 1 MiB request arrived intact')
        return answer
      })
      const connection = await a.connect(contactOf(b))
      await connection.send(sent)
      assert.equal(sha256(await connection.request(requested)), sha256(answer), 'the 1 MiB answer arrived intact')
      await waitFor(() => received.length === 1, eventTimeout, 'the 1 MiB message')
      assert.deepEqual(received, [sha256(sent)], 'the 1 MiB message arrived intact')
    },
  },
]
