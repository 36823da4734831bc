import { CloseCode, type CrustNode, DialError, type ServiceStream, type ServiceFactory, StreamResetError } from '@crust/core'
import { StreamResetCode } from '@crust/core/plugin'
import { describe, expect, it } from 'vitest'
import { RelayError, relay } from '../src/relay/index.js'
import { HOP_PROTOCOL, STOP_PROTOCOL } from '../src/relay/protocol.js'
import { contactOf, startNode, triangle, waitFor } from './relay-helpers.js'

/** Send `frame` (a raw frame body, or an object as JSON) on a new stream of `protocol` and read the answer. */
async function ask(from: CrustNode, to: CrustNode, protocol: string, frame: unknown, end = false): Promise<unknown> {
  const stream = await from.getConnection(to.peerId)!.openProtocolStream(protocol)
  const body = frame instanceof Uint8Array ? frame : Buffer.from(JSON.stringify(frame))
  await stream.writeFrame(body, { end })
  return answerOf(stream)
}

async function answerOf(stream: ServiceStream): Promise<unknown> {
  try {
    const answer = await stream.readFrame(4096)
    stream.reset()
    return answer === undefined ? 'ended' : JSON.parse(Buffer.from(answer).toString())
  } catch (error) {
    return error
  }
}

function viaRelay(error: unknown): Error | undefined {
  return error instanceof DialError ? error.errors.find((f) => f.address === 'via relay')?.error : undefined
}

describe('relay: bad input', () => {
  it('a relay refuses malformed, unknown and oversized requests with typed answers and keeps working', async () => {
    const { r, a, b } = await triangle({ server: { answerTimeout: 300 } })
    const badRequest = { type: 'refused', reason: 'bad-request' }
    expect(await ask(a, r, HOP_PROTOCOL, Buffer.from('{not json'))).toMatchObject(badRequest)
    expect(await ask(a, r, HOP_PROTOCOL, { type: 'dance' })).toMatchObject(badRequest)
    expect(await ask(a, r, HOP_PROTOCOL, { type: 'connect', target: 'not-a-peer-id' })).toMatchObject(badRequest)
    expect(await ask(a, r, HOP_PROTOCOL, { type: 'connect', target: b.peerId, extra: 1 })).toMatchObject(badRequest)
    expect(await ask(a, r, HOP_PROTOCOL, [1, 2, 3])).toMatchObject(badRequest)
    expect(await ask(a, r, HOP_PROTOCOL, { type: 'connect', target: a.peerId })).toMatchObject({ type: 'refused', reason: 'self' })
    expect(await ask(a, r, HOP_PROTOCOL, { type: 'connect', target: r.peerId })).toMatchObject({ type: 'refused', reason: 'self' })

    // Oversized: refused by resetting before anything is buffered.
    const big = await ask(a, r, HOP_PROTOCOL, Buffer.alloc(5000, 0x7b))
    expect(big).toBeInstanceOf(StreamResetError)
    expect((big as StreamResetError).resetCode).toBe(StreamResetCode.MESSAGE_TOO_LARGE)
    // A length prefix claiming 4 GiB.
    const liar = await a.getConnection(r.peerId)!.openProtocolStream(HOP_PROTOCOL)
    await liar.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]))
    expect(((await answerOf(liar)) as StreamResetError).resetCode).toBe(StreamResetCode.MESSAGE_TOO_LARGE)

    // Ended before any frame; silent until the deadline.
    const empty = await a.getConnection(r.peerId)!.openProtocolStream(HOP_PROTOCOL)
    await empty.write(new Uint8Array(0), { end: true })
    expect(await answerOf(empty)).toMatchObject(badRequest)
    const silent = await a.getConnection(r.peerId)!.openProtocolStream(HOP_PROTOCOL)
    await silent.write(new Uint8Array(0))
    const t0 = performance.now()
    expect(((await answerOf(silent)) as StreamResetError).resetCode).toBe(StreamResetCode.TIMEOUT)
    expect(performance.now() - t0).toBeLessThan(2000)

    // Nothing broke: a real circuit still works.
    b.handle(() => Buffer.from('fine'))
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(Buffer.from(await connection.request(Buffer.from('?'))).toString()).toBe('fine')
  })

  it('a relay client refuses malformed announcements with typed answers', async () => {
    const { r, a, b } = await triangle()
    const badRequest = { type: 'refused', reason: 'bad-request' }
    expect(await ask(r, b, STOP_PROTOCOL, Buffer.from('\u0000\u0001'))).toMatchObject(badRequest)
    expect(await ask(r, b, STOP_PROTOCOL, { type: 'incoming' })).toMatchObject(badRequest)
    expect(await ask(r, b, STOP_PROTOCOL, { type: 'incoming', from: b.peerId })).toMatchObject({ type: 'refused', reason: 'self' })
    const big = await ask(r, b, STOP_PROTOCOL, Buffer.alloc(2048))
    expect((big as StreamResetError).resetCode).toBe(StreamResetCode.MESSAGE_TOO_LARGE)
    // An announcement from a genuine peer, then garbage instead of TLS: the stream is dropped, B stays up.
    const stream = await r.getConnection(b.peerId)!.openProtocolStream(STOP_PROTOCOL)
    await stream.writeFrame(Buffer.from(JSON.stringify({ type: 'incoming', from: a.peerId })))
    expect(JSON.parse(Buffer.from((await stream.readFrame(1024))!).toString())).toEqual({ type: 'accepted' })
    await stream.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'.repeat(50)))
    await expect(stream.readFrame(1 << 20).then(() => stream.readFrame(1 << 20))).rejects.toBeInstanceOf(StreamResetError)
    expect(b.getConnection(a.peerId)).toBeUndefined()

    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
  })

  it('a relay that answers garbage, or nothing, gives the requester a typed error in bounded time', async () => {
    const liar = await startNode({ services: [fakeRelay((stream) => stream.writeFrame(Buffer.from('{"type":"connected","x":1}')))] })
    const mute = await startNode({ services: [fakeRelay(async () => {})] })
    const b = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    const a = await startNode({ role: 'client', services: [relay({ upgrade: false, connectTimeout: 300, relays: [liar.peerId] })] })
    await a.connect(contactOf(liar))
    const garbled = viaRelay(await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect(garbled).toBeInstanceOf(RelayError)
    expect((garbled as RelayError).reason).toBe('bad-request')

    await a.getConnection(liar.peerId)!.close()
    await a.connect(contactOf(mute))
    const t0 = performance.now()
    const silent = viaRelay(await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e))
    expect((silent as RelayError).reason).toBe('timeout')
    expect(performance.now() - t0).toBeLessThan(1500)
  })

  it('stopping the relay ends its circuits with reason shutdown; stopping an end closes the other in order', async () => {
    const { r, a, b } = await triangle()
    await a.connect({ peerId: b.peerId, addresses: [] })
    await waitFor(() => b.getConnection(a.peerId) !== undefined, 5000, 'B to pool A')
    const closes = Promise.all(
      [a, b].map(
        (node) =>
          new Promise<{ code: number; error?: Error }>((resolve) => {
            node.on('connection:close', (event) => {
              if (event.peerId !== r.peerId) resolve(event)
            })
          }),
      ),
    )
    const t0 = performance.now()
    await r.stop()
    expect(performance.now() - t0).toBeLessThan(3000)
    for (const event of await closes) {
      expect(event.code).toBe(CloseCode.SHUTDOWN)
      expect((event.error as RelayError).reason).toBe('shutdown')
    }

    const next = await triangle()
    await next.a.connect({ peerId: next.b.peerId, addresses: [] })
    await waitFor(() => next.b.getConnection(next.a.peerId) !== undefined, 5000, 'B to pool A')
    const closedOnB = new Promise<{ code: number }>((resolve) => {
      next.b.on('connection:close', (event) => {
        if (event.peerId === next.a.peerId) resolve(event)
      })
    })
    await next.a.stop()
    expect((await closedOnB).code).toBe(CloseCode.SHUTDOWN)
  })
})

/** A relay server whose answer to every request is `answer`. */
function fakeRelay(answer: (stream: ServiceStream) => Promise<void>): ServiceFactory {
  return (components) => ({
    id: 'fake-relay',
    start: async () => {
      components.handleProtocol(HOP_PROTOCOL, (stream) => {
        void (async () => {
          await stream.readFrame(1024)
          await answer(stream)
        })().catch(() => stream.reset())
      })
    },
    stop: async () => {},
  })
}
