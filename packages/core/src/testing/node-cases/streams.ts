import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { pipeline } from 'node:stream/promises'
import type { CrustStream } from '../../connection/crust-stream.js'
import type { NodeCase } from '../node-case.js'
import { contactOf, waitFor } from '../nodes.js'
import { type ExpectedError, assertTypedError, rejection, sha256, sleep, within } from '../util.js'

const MiB = 1024 * 1024
const PROTOCOL_NOT_SUPPORTED: ExpectedError = { name: 'ProtocolNotSupportedError', code: 'ERR_PROTOCOL_NOT_SUPPORTED' }
const LIMIT_EXCEEDED: ExpectedError = { name: 'LimitExceededError', code: 'ERR_LIMIT_EXCEEDED' }
const STREAM_RESET: ExpectedError = { name: 'StreamResetError', code: 'ERR_STREAM_RESET' }

/** Every byte of `stream` until its end. */
async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Write `data` in 64 KiB chunks, honouring backpressure, then end. */
async function writeAll(stream: CrustStream, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.byteLength; at += 64 * 1024) {
    if (!stream.write(data.subarray(at, at + 64 * 1024))) await once(stream, 'drain')
  }
  stream.end()
  await once(stream, 'finish')
}

/** The error a stream fails with (its next read). */
async function failure(stream: CrustStream, ms: number, what: string): Promise<unknown> {
  return rejection(readAll(stream), ms, what)
}

/** Application protocols: named messages, byte streams, negotiation and limits, as users see them over the transports under test. */
export const streamCases: readonly NodeCase[] = [
  {
    name: 'protocols: named messages reach their handler; node.protocols and connection.remoteProtocols list them',
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.node()
      const chats: string[] = []
      b.handle('/chat/1', (message) => {
        chats.push(`${message.protocol}:${Buffer.from(message.data).toString()}`)
        return message.isRequest ? Buffer.from('chat answer') : undefined
      })
      b.handle('/sum/1', (message) => Buffer.from(String(Buffer.from(message.data).reduce((sum, byte) => sum + byte, 0))))
      b.handleStream('/echo/1', (stream) => void pipeline(stream, stream).catch(() => {}))
      b.handle((message) => (message.isRequest ? Buffer.from('default answer') : undefined))
      assert.deepEqual(b.protocols, ['/chat/1', '/echo/1', '/sum/1'])
      const connection = await a.connect(contactOf(b))
      assert.deepEqual([...connection.remoteProtocols], ['/chat/1', '/echo/1', '/sum/1'], 'what b announced')
      await connection.send(Buffer.from('hello'), { protocol: '/chat/1' })
      assert.equal(Buffer.from(await connection.request(Buffer.from('q'), { protocol: '/chat/1' })).toString(), 'chat answer')
      assert.equal(Buffer.from(await connection.request(Uint8Array.from([1, 2, 3]), { protocol: '/sum/1' })).toString(), '6')
      assert.equal(Buffer.from(await connection.request(Buffer.from('x'))).toString(), 'default answer', 'the default protocol is unchanged')
      assert.equal(Buffer.from(await a.request(b.peerId, Buffer.from('peer-addressed'), { protocol: '/chat/1' })).toString(), 'chat answer')
      await waitFor(() => chats.length === 3, eventTimeout, 'the chat messages')
      assert.deepEqual(chats, ['/chat/1:hello', '/chat/1:q', '/chat/1:peer-addressed'])
      assertTypedError(
        await rejection(Promise.resolve().then(() => b.handle('/chat/1', () => undefined)), eventTimeout, 'handling /chat/1 twice'),
        { name: 'ProtocolInUseError', code: 'ERR_PROTOCOL_IN_USE' },
        'handling /chat/1 twice',
      )
      b.handle('/chat/1', () => Buffer.from('replaced'), { replace: true })
      assert.equal(Buffer.from(await connection.request(Buffer.from('q'), { protocol: '/chat/1' })).toString(), 'replaced')
      assert.equal(b.unhandle('/sum/1'), true)
      assertTypedError(
        await rejection(connection.request(Buffer.from('q'), { protocol: '/sum/1' }), eventTimeout, 'a request for an unhandled protocol'),
        PROTOCOL_NOT_SUPPORTED,
        'a request for a protocol b no longer handles',
      )
    },
  },
  {
    name: 'protocols: a connected peer hears when the protocols change (peer:protocols, connection.remoteProtocols), several changes as one update',
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.node()
      b.handle('/chat/1', () => undefined)
      const connection = await a.connect(contactOf(b))
      assert.deepEqual([...connection.remoteProtocols], ['/chat/1'])
      const updates: string[][] = []
      a.on('peer:protocols', (event) => {
        assert.equal(event.peerId, b.peerId)
        updates.push([...event.protocols])
      })
      b.handle('/late/1', () => Buffer.from('late answer'))
      b.handleStream('/late-stream/1', (stream) => void pipeline(stream, stream).catch(() => {}))
      await waitFor(() => updates.length > 0 && connection.remoteProtocols.includes('/late-stream/1'), eventTimeout, "b's new protocols")
      assert.deepEqual([...connection.remoteProtocols], ['/chat/1', '/late-stream/1', '/late/1'])
      assert.equal(updates.length, 1, 'two handle calls in a row are one update')
      assert.equal(Buffer.from(await connection.request(Buffer.from('q'), { protocol: '/late/1' })).toString(), 'late answer')
      b.unhandle('/chat/1')
      await waitFor(() => !connection.remoteProtocols.includes('/chat/1'), eventTimeout, 'b dropping /chat/1')
      assert.deepEqual(updates.at(-1), ['/late-stream/1', '/late/1'])
      // b hears a's changes the same way.
      const onB = b.getConnection(a.peerId)
      assert.ok(onB !== undefined)
      a.handle('/from-a/1', () => undefined)
      await waitFor(() => onB.remoteProtocols.includes('/from-a/1'), eventTimeout, "a's new protocol at b")
    },
  },
  {
    name: 'bad input: a malformed or oversized protocol update is reset, changes nothing, and the connection keeps serving',
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.node()
      b.handle('/chat/1', (message) => (message.isRequest ? message.data : undefined))
      a.handle('/real/1', () => undefined)
      const connection = await a.connect(contactOf(b))
      const onB = b.getConnection(a.peerId)
      assert.ok(onB !== undefined)
      const bad = [
        Buffer.from('not json'),
        Buffer.from(JSON.stringify({ seq: 1, protocols: ['no-slash'] })),
        Buffer.from(JSON.stringify({ seq: 1, protocols: Array.from({ length: 33 }, (_, i) => `/p/${i}`) })),
        Buffer.from(JSON.stringify({ seq: 1, protocols: ['/x/1'], pad: 'x'.repeat(9 * 1024) })),
      ]
      for (const frame of bad) {
        const stream = await connection.openProtocolStream('/crust/protocols/1')
        await stream.writeFrame(frame, { end: true }).catch(() => {})
        assertTypedError(await rejection(stream.readFrame(1024), eventTimeout, 'the reset of a bad update'), STREAM_RESET, 'a bad update')
      }
      assert.deepEqual([...onB.remoteProtocols], ['/real/1'], 'what a announced is unchanged')
      assert.equal(Buffer.from(await connection.request(Buffer.from('still'), { protocol: '/chat/1' })).toString(), 'still')
    },
  },
  {
    name: 'protocols: a message or stream for a protocol the peer does not handle fails fast with ProtocolNotSupportedError',
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.server()
      const connection = await a.connect(contactOf(b))
      const fast = Math.min(eventTimeout, 2_000)
      const started = performance.now()
      assertTypedError(await rejection(connection.send(Buffer.from('x'), { protocol: '/nope/1' }), fast, 'send'), PROTOCOL_NOT_SUPPORTED, 'send')
      assertTypedError(await rejection(connection.request(Buffer.from('x'), { protocol: '/nope/1' }), fast, 'request'), PROTOCOL_NOT_SUPPORTED, 'request')
      assertTypedError(await rejection(a.send(b.peerId, Buffer.from('x'), { protocol: '/nope/1' }), fast, 'node.send'), PROTOCOL_NOT_SUPPORTED, 'node.send')
      const refused = await rejection(connection.openStream('/nope/1'), fast, 'openStream')
      assertTypedError(refused, PROTOCOL_NOT_SUPPORTED, 'openStream')
      assert.equal((refused as { protocol?: string }).protocol, '/nope/1', 'the error names the protocol')
      assertTypedError(await rejection(a.openStream(b.peerId, '/nope/1'), fast, 'node.openStream'), PROTOCOL_NOT_SUPPORTED, 'node.openStream')
      assert.ok(performance.now() - started < fast, 'refused at once, not at a timeout')
      assert.equal(Buffer.from(await connection.request(Buffer.from('ok?'))).toString(), 'fine', 'the connection still works')
    },
  },
  {
    name: 'streams: 1 MiB echoed both ways intact (hash-checked), opened by either side, with protocol, peerId and connection',
    async body(scope) {
      const a = await scope.node()
      const b = await scope.node()
      const seen: string[] = []
      for (const node of [a, b]) {
        node.handleStream('/echo/1', (stream, connection) => {
          seen.push(`${stream.protocol}:${stream.peerId === connection.peerId}`)
          void pipeline(stream, stream).catch(() => {})
        })
      }
      const connection = await a.connect(contactOf(b))
      for (const [opener, peer] of [
        [a, b],
        [b, a],
      ] as const) {
        const stream = await opener.openStream(peer.peerId, '/echo/1')
        assert.equal(stream.protocol, '/echo/1')
        assert.equal(stream.peerId, peer.peerId)
        assert.equal(stream.connection.peerId, peer.peerId)
        const data = randomBytes(MiB)
        const [, echoed] = await Promise.all([writeAll(stream, data), readAll(stream)])
        assert.equal(echoed.byteLength, MiB, 'every byte came back')
        assert.equal(sha256(echoed), sha256(data), 'the echo is intact')
      }
      assert.deepEqual(seen, ['/echo/1:true', '/echo/1:true'])
      assert.equal(a.connections.length, 1, 'one connection carries both')
      assert.equal(a.getConnection(b.peerId), connection)
    },
  },
  {
    name: 'streams: half-close: the handler reads to the end, then answers on the same stream',
    async body(scope) {
      const a = await scope.node()
      const b = await scope.node()
      b.handleStream('/count/1', async (stream) => {
        const all = await readAll(stream)
        stream.end(Buffer.from(`${all.byteLength}:${sha256(all)}`))
      })
      const stream = await (await a.connect(contactOf(b))).openStream('/count/1')
      const data = randomBytes(300 * 1024)
      await writeAll(stream, data)
      const answer = (await readAll(stream)).toString()
      assert.equal(answer, `${data.byteLength}:${sha256(data)}`, 'the handler saw the whole upload, then the end')
    },
  },
  {
    name: 'streams: abort(code) resets the stream; the peer sees a StreamResetError with the code, either way',
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.node()
      const handled: CrustStream[] = []
      b.handleStream('/abort/1', (stream) => {
        handled.push(stream)
        stream.write('hello')
      })
      const connection = await a.connect(contactOf(b))
      // The opener aborts: the handler's stream fails with the code.
      const first = await connection.openStream('/abort/1')
      first.write('x')
      await waitFor(() => handled.length === 1, eventTimeout, 'the handler')
      first.abort(42)
      const seenByHandler = await failure(handled[0] as CrustStream, eventTimeout, "the handler's read after the opener aborted")
      assertTypedError(seenByHandler, STREAM_RESET, "the handler's read")
      assert.equal((seenByHandler as { resetCode?: number }).resetCode, 42, 'the code reached the handler')
      // The handler aborts: the opener's stream fails with the code.
      const second = await connection.openStream('/abort/1')
      await waitFor(() => handled.length === 2, eventTimeout, 'the second handler')
      ;(handled[1] as CrustStream).abort(7)
      const seenByOpener = await failure(second, eventTimeout, "the opener's read after the handler aborted")
      assertTypedError(seenByOpener, STREAM_RESET, "the opener's read")
      assert.equal((seenByOpener as { resetCode?: number }).resetCode, 7)
    },
  },
  {
    name: 'streams: backpressure: a reader that pauses stops the writer within bounded buffers, and everything arrives once it reads',
    timeoutMs: 60_000,
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.node()
      let handled: CrustStream | undefined
      b.handleStream('/sink/1', (stream) => {
        handled = stream
        stream.pause()
      })
      const stream = await (await a.connect(contactOf(b))).openStream('/sink/1')
      await waitFor(() => handled !== undefined, eventTimeout, 'the handler')
      // Write until the writer is held back and stays held back.
      const chunk = randomBytes(64 * 1024)
      let accepted = 0
      for (;;) {
        const more = stream.write(chunk)
        accepted += chunk.byteLength
        if (more) continue
        const drained = await Promise.race([once(stream, 'drain').then(() => true), sleep(500).then(() => false)])
        if (!drained) break
        assert.ok(accepted < 64 * MiB, `the writer was never held back (${accepted} bytes accepted)`)
      }
      assert.ok(accepted < 32 * MiB, `a paused reader held back the writer after ${accepted} bytes (buffers are bounded)`)
      const reader = handled as CrustStream
      const received = (async () => {
        let bytes = 0
        for await (const piece of reader) bytes += (piece as Uint8Array).byteLength
        return bytes
      })()
      reader.resume()
      stream.end()
      const total = await within(received, eventTimeout * 4, 'the reader to drain the stream')
      assert.equal(total, accepted, 'every byte written arrived once the reader read')
    },
  },
  {
    name: 'streams: a peer opening streams beyond maxStreamsPerPeer is refused with LimitExceededError, and the node stays responsive',
    async body(scope, { eventTimeout }) {
      const a = await scope.node()
      const b = await scope.node()
      const held: CrustStream[] = []
      b.handleStream('/hold/1', (stream) => void held.push(stream), { maxStreamsPerPeer: 4 })
      b.handle((message) => (message.isRequest ? Buffer.from('fine') : undefined))
      const connection = await a.connect(contactOf(b))
      const opened = await Promise.all(Array.from({ length: 4 }, () => connection.openStream('/hold/1')))
      assertTypedError(await rejection(connection.openStream('/hold/1'), eventTimeout, 'a fifth stream'), LIMIT_EXCEEDED, 'a fifth stream')
      assert.equal(Buffer.from(await connection.request(Buffer.from('ok?'))).toString(), 'fine', 'the node still answers')
      const other = await scope.node()
      const fromOther = await (await other.connect(contactOf(b))).openStream('/hold/1')
      assert.equal(fromOther.protocol, '/hold/1', 'another peer still gets a stream')
      // Closing one frees its slot.
      ;(opened[0] as CrustStream).abort()
      await waitFor(() => (held[0] as CrustStream).destroyed, eventTimeout, 'the handler stream to close')
      const again = await connection.openStream('/hold/1')
      again.abort()
      for (const stream of [...opened, fromOther]) stream.abort()
    },
  },
  {
    name: 'streams: toWeb() gives a Web Streams pair that round-trips data',
    async body(scope) {
      const a = await scope.node()
      const b = await scope.node()
      b.handleStream('/echo/1', (stream) => void pipeline(stream, stream).catch(() => {}))
      const stream = await (await a.connect(contactOf(b))).openStream('/echo/1')
      const { readable, writable } = stream.toWeb()
      const writer = writable.getWriter()
      await writer.write(Buffer.from('web '))
      await writer.write(Buffer.from('streams'))
      await writer.close()
      const chunks: Uint8Array[] = []
      for await (const chunk of readable) chunks.push(chunk)
      assert.equal(Buffer.concat(chunks).toString(), 'web streams')
    },
  },
]
