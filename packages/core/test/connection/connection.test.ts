import { describe, expect, it } from 'vitest'
import { Connection } from '../../src/connection/connection.js'
import { MessageKind, encodeMessage } from '../../src/connection/message-header.js'
import { StreamResetCode } from '../../src/connection/stream-codes.js'
import {
  AbortError,
  ConnectionClosedError,
  DeliveryUnknownError,
  LimitExceededError,
  MessageTooLargeError,
  StreamResetError,
  TimeoutError,
} from '../../src/errors.js'
import type { CloseInfo, TransportConnection, TransportStream } from '../../src/transport/types.js'

/** A stream whose answer the test controls: `answer()` delivers a whole response, `fail()` a reset. */
class FakeStream implements TransportStream {
  readonly direction = 'outbound' as const
  readonly written: Uint8Array[] = []
  readonly resets: number[] = []
  private chunks: Uint8Array[] = []
  private ended = false
  private error: Error | undefined
  private wake: (() => void) | undefined

  constructor(
    readonly id: number,
    readonly bidirectional: boolean,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    if (this.error) throw this.error
    this.written.push(Uint8Array.from(data))
  }

  async end(): Promise<void> {}

  reset(code = 0): void {
    this.resets.push(code)
    this.fail(new StreamResetError('reset locally', code, false))
  }

  answer(kind: number, payload: Uint8Array): void {
    this.chunks.push(encodeMessage(kind as MessageKind, payload))
    this.ended = true
    this.wake?.()
  }

  fail(error: Error): void {
    this.error ??= error
    this.wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = this.chunks.shift()
      if (chunk !== undefined) {
        yield chunk
        continue
      }
      if (this.error) throw this.error
      if (this.ended) return
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
    }
  }
}

/** A transport connection handing out FakeStreams, optionally only when `release()` is called. */
function fakeConnection(options: { holdStreams?: boolean } = {}) {
  const streams: FakeStream[] = []
  const held: Array<() => void> = []
  let nextId = 1
  const transport: TransportConnection = {
    id: 'fake-1',
    transport: 'fake',
    direction: 'outbound',
    remoteAddress: 'fake://remote',
    localAddress: 'fake://local',
    remotePeer: { peerId: 'peer' },
    closed: new Promise<CloseInfo>(() => {}),
    openStream({ bidirectional }) {
      const stream = new FakeStream(nextId, bidirectional)
      nextId += 2
      streams.push(stream)
      if (!options.holdStreams) return Promise.resolve(stream)
      return new Promise((resolve) => held.push(() => resolve(stream)))
    },
    onStream() {},
    async close() {},
  } as TransportConnection
  return { transport, streams, release: () => held.shift()?.() }
}

const settings = { maxMessageSize: 1024, requestTimeout: 5_000 }

describe('Connection deadlines and cancellation', () => {
  it('resolves a request with the answer and leaves no timer behind', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const answer = connection.request(Buffer.from('ping'))
    await new Promise((resolve) => setImmediate(resolve))
    streams[0]?.answer(MessageKind.RESPONSE, Buffer.from('pong'))
    expect(Buffer.from(await answer).toString()).toBe('pong')
    expect(streams[0]?.resets).toEqual([])
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(timersBefore)
  })

  it('times out after `timeout` ms with TimeoutError and resets the stream', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    const started = performance.now()
    await expect(connection.request(Buffer.from('ping'), { timeout: 50 })).rejects.toBeInstanceOf(TimeoutError)
    expect(performance.now() - started).toBeGreaterThanOrEqual(49)
    expect(streams[0]?.resets).toEqual([StreamResetCode.TIMEOUT])
    // A send that was handed over but never acknowledged is not reported sent.
    const unacknowledged = connection.send(Buffer.from('x'), { timeout: 20 })
    await expect(unacknowledged).rejects.toBeInstanceOf(TimeoutError)
    await expect(unacknowledged).rejects.toThrow(/may or may not have received/)
  })

  it('times out each operation on its own deadline, whatever the mix of timeouts', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    const started = performance.now()
    const settledAt: Array<[number, string]> = []
    const timeouts = [120, 40, 80, 40, 120, 80]
    const all = timeouts.map((timeout, i) =>
      connection.request(Buffer.from([i]), { timeout }).then(
        () => settledAt.push([i, 'answered']),
        (error: unknown) => {
          expect(error).toBeInstanceOf(TimeoutError)
          expect(performance.now() - started).toBeGreaterThanOrEqual(timeout - 1)
          settledAt.push([i, 'timeout'])
        },
      ),
    )
    // Answer the last one before any deadline: it must not time out.
    await new Promise((resolve) => setTimeout(resolve, 10))
    streams[5]?.answer(MessageKind.RESPONSE, Buffer.from('ok'))
    await Promise.all(all)
    expect(settledAt).toEqual([
      [5, 'answered'],
      [1, 'timeout'],
      [3, 'timeout'],
      [2, 'timeout'],
      [0, 'timeout'],
      [4, 'timeout'],
    ])
    for (const i of [0, 1, 2, 3, 4]) expect(streams[i]?.resets).toEqual([StreamResetCode.TIMEOUT])
    expect(streams[5]?.resets).toEqual([])
  })

  it('aborts with AbortError and resets the stream; an aborted signal opens nothing', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    const controller = new AbortController()
    const pending = connection.request(Buffer.from('ping'), { signal: controller.signal })
    await new Promise((resolve) => setImmediate(resolve))
    controller.abort()
    await expect(pending).rejects.toBeInstanceOf(AbortError)
    expect(streams[0]?.resets).toEqual([StreamResetCode.CANCELLED])
    await expect(connection.send(Buffer.from('x'), { signal: controller.signal })).rejects.toBeInstanceOf(AbortError)
    expect(streams).toHaveLength(1)
  })

  it('resets a stream that opens only after the deadline passed', async () => {
    const { transport, streams, release } = fakeConnection({ holdStreams: true })
    const connection = new Connection(transport, settings)
    await expect(connection.request(Buffer.from('ping'), { timeout: 20 })).rejects.toBeInstanceOf(TimeoutError)
    release()
    await new Promise((resolve) => setImmediate(resolve))
    expect(streams[0]?.resets).toEqual([StreamResetCode.TIMEOUT])
    expect(streams[0]?.written).toEqual([])
  })

  it('refuses an oversized message at once and maps a remote MESSAGE_TOO_LARGE reset', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    await expect(connection.send(Buffer.alloc(2000))).rejects.toBeInstanceOf(MessageTooLargeError)
    expect(streams).toHaveLength(0)
    const pending = connection.request(Buffer.from('x'))
    await new Promise((resolve) => setImmediate(resolve))
    streams[0]?.fail(new StreamResetError('reset by peer', StreamResetCode.MESSAGE_TOO_LARGE, true))
    await expect(pending).rejects.toBeInstanceOf(MessageTooLargeError)
  })

  it('maps a receiver running out of message budget or patience to LimitExceededError and TimeoutError', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    const refused = connection.request(Buffer.from('x'))
    const slow = connection.request(Buffer.from('y'))
    await new Promise((resolve) => setImmediate(resolve))
    streams[0]?.fail(new StreamResetError('reset by peer', StreamResetCode.LIMIT_EXCEEDED, true))
    streams[1]?.fail(new StreamResetError('reset by peer', StreamResetCode.TIMEOUT, true))
    await expect(refused).rejects.toBeInstanceOf(LimitExceededError)
    await expect(slow).rejects.toBeInstanceOf(TimeoutError)
  })
})

describe('Connection.send is acknowledged', () => {
  const tick = () => new Promise((resolve) => setImmediate(resolve))

  it('resolves only once the receiver acknowledges the whole message', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    let settled = false
    const sent = connection.send(Buffer.from('hello')).then(() => {
      settled = true
    })
    await tick()
    await tick()
    expect(streams[0]?.bidirectional).toBe(true)
    expect(Buffer.concat(streams[0]?.written ?? []).subarray(8).toString()).toBe('hello')
    expect(settled).toBe(false) // written, not acknowledged: not sent yet
    streams[0]?.answer(MessageKind.ACK, new Uint8Array(0))
    await sent
    expect(connection.stats.messagesSent).toBe(1)
  })

  it('rejects with DeliveryUnknownError when the connection fails after the hand-over', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    for (const operation of ['send', 'request'] as const) {
      const pending = connection[operation](Buffer.from('lost?'))
      await tick()
      await tick()
      streams.at(-1)?.fail(new ConnectionClosedError('connection lost', 0))
      const error = await pending.then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(DeliveryUnknownError)
      expect((error as DeliveryUnknownError).cause).toBeInstanceOf(ConnectionClosedError)
    }
    expect(connection.stats.messagesSent).toBe(1) // only the request was written; the send was never acknowledged
  })

  it('keeps the receiver\'s refusal typed: it did not deliver the message', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    const pending = connection.send(Buffer.from('too big for them'))
    await tick()
    streams[0]?.fail(new StreamResetError('reset by peer', StreamResetCode.MESSAGE_TOO_LARGE, true))
    await expect(pending).rejects.toBeInstanceOf(MessageTooLargeError)
  })

  it('a stream failed by its connection closing is not a refusal, whatever the close code', async () => {
    const { transport, streams } = fakeConnection()
    const connection = new Connection(transport, settings)
    const pending = connection.send(Buffer.from('x'))
    await tick()
    const closeInfo = { code: 1, reason: 'protocol error', remote: true }
    streams[0]?.fail(new StreamResetError('connection closed', 1, true, { closeInfo }))
    await expect(pending).rejects.toBeInstanceOf(DeliveryUnknownError)
  })

  it('rejects with the original error when no stream could be opened (nothing was handed over)', async () => {
    const { transport } = fakeConnection()
    transport.openStream = () => Promise.reject(new ConnectionClosedError('already closed', 0))
    const connection = new Connection(transport, settings)
    await expect(connection.send(Buffer.from('x'))).rejects.toBeInstanceOf(ConnectionClosedError)
  })
})
