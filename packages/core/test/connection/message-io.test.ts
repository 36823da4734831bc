import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MessageKind, encodeMessage, encodeMessageHeader } from '../../src/connection/message-header.js'
import { readMessage } from '../../src/connection/message-io.js'
import { StreamResetCode } from '../../src/connection/stream-codes.js'
import { CHUNK_OVERHEAD, MessageBudget, type MessageBudgetOptions } from '../../src/connection/message-budget.js'
import { LimitExceededError, MessageTooLargeError, ProtocolError, StreamResetError, TimeoutError } from '../../src/errors.js'
import type { TransportStream } from '../../src/transport/types.js'

/** An in-memory inbound stream yielding `chunks`, recording resets. Pure logic only: real streams are tested end to end. */
function streamOf(chunks: Uint8Array[]): TransportStream & { resets: number[] } {
  const resets: number[] = []
  return {
    id: 1,
    direction: 'inbound',
    bidirectional: false,
    resets,
    async *[Symbol.asyncIterator]() {
      for (const chunk of chunks) yield chunk
    },
    write: async () => {},
    end: async () => {},
    reset: (code = 0) => {
      resets.push(code)
    },
  }
}

/** Split `bytes` at the given cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const parts: Uint8Array[] = []
  let last = 0
  for (const point of points) {
    parts.push(bytes.subarray(last, point))
    last = point
  }
  parts.push(bytes.subarray(last))
  return parts
}

describe('readMessage', () => {
  it('reassembles a message however the stream splits it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 10 }), async (payload, cuts) => {
        const message = await readMessage(streamOf(split(encodeMessage(MessageKind.SEND, payload), cuts)), 4096)
        expect(message.kind).toBe(MessageKind.SEND)
        expect(Buffer.from(message.data).equals(Buffer.from(payload))).toBe(true)
      }),
    )
  })

  it('refuses an oversized header before reading the payload, resetting the stream', async () => {
    const stream = streamOf([encodeMessageHeader(MessageKind.SEND, 0xffffffff)])
    await expect(readMessage(stream, 1024)).rejects.toBeInstanceOf(MessageTooLargeError)
    expect(stream.resets).toEqual([StreamResetCode.MESSAGE_TOO_LARGE])
  })

  it('treats a truncated message as a protocol error', async () => {
    const whole = encodeMessage(MessageKind.SEND, Buffer.alloc(100))
    await expect(readMessage(streamOf([whole.subarray(0, 50)]), 1024)).rejects.toBeInstanceOf(ProtocolError)
    await expect(readMessage(streamOf([whole.subarray(0, 3)]), 1024)).rejects.toBeInstanceOf(ProtocolError)
    await expect(readMessage(streamOf([]), 1024)).rejects.toBeInstanceOf(ProtocolError)
  })

  it('treats bytes beyond the announced length as a protocol error', async () => {
    const whole = encodeMessage(MessageKind.SEND, Buffer.alloc(10))
    const stream = streamOf([whole, Buffer.from('extra')])
    await expect(readMessage(stream, 1024)).rejects.toBeInstanceOf(ProtocolError)
    expect(stream.resets).toEqual([StreamResetCode.PROTOCOL_ERROR])
  })
})

describe('protocol streams', () => {
  const frame = (payload: string): Buffer => {
    const body = Buffer.from(payload)
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(body.length)
    return Buffer.concat([prefix, body])
  }

  it('keeps every byte after the protocol name, however the stream is cut', async () => {
    const { ProtocolStream } = await import('../../src/connection/protocol-stream.js')
    const bytes = Buffer.concat([encodeMessage(MessageKind.PROTOCOL, Buffer.from('/test/1')), frame('first'), frame('second'), Buffer.from('raw tail')])
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(bytes.length), { maxLength: 12 }), async (cuts) => {
        const stream = streamOf(split(bytes, cuts))
        const opening = await readMessage(stream, 1024)
        expect(opening.kind).toBe(MessageKind.PROTOCOL)
        expect(Buffer.from(opening.data).toString()).toBe('/test/1')
        const protocol = new ProtocolStream('/test/1', stream, opening.rest)
        expect(Buffer.from((await protocol.readFrame(64)) ?? []).toString()).toBe('first')
        expect(Buffer.from((await protocol.readFrame(64)) ?? []).toString()).toBe('second')
        const rest: Uint8Array[] = []
        for await (const chunk of protocol) rest.push(chunk)
        expect(Buffer.concat(rest).toString()).toBe('raw tail')
      }),
      { numRuns: 200 },
    )
  })

  it('refuses empty or overlong protocol names, and frames over the limit before buffering them', async () => {
    const { ProtocolStream } = await import('../../src/connection/protocol-stream.js')
    const empty = streamOf([encodeMessageHeader(MessageKind.PROTOCOL, 0)])
    await expect(readMessage(empty, 1024)).rejects.toBeInstanceOf(ProtocolError)
    const long = streamOf([encodeMessage(MessageKind.PROTOCOL, Buffer.alloc(129, 0x61))])
    await expect(readMessage(long, 1024)).rejects.toBeInstanceOf(ProtocolError)
    expect(long.resets).toEqual([StreamResetCode.PROTOCOL_ERROR])
    const huge = Buffer.alloc(4)
    huge.writeUInt32BE(0xffffffff)
    const stream = streamOf([Buffer.concat([encodeMessage(MessageKind.PROTOCOL, Buffer.from('/p')), huge])])
    const opening = await readMessage(stream, 1024)
    const protocol = new ProtocolStream('/p', stream, opening.rest)
    await expect(protocol.readFrame(4096)).rejects.toBeInstanceOf(MessageTooLargeError)
    expect(stream.resets).toEqual([StreamResetCode.MESSAGE_TOO_LARGE])
    const truncated = streamOf([Buffer.concat([encodeMessage(MessageKind.PROTOCOL, Buffer.from('/p')), frame('cut').subarray(0, 5)])])
    const cut = new ProtocolStream('/p', truncated, (await readMessage(truncated, 1024)).rest)
    await expect(cut.readFrame(64)).rejects.toBeInstanceOf(ProtocolError)
  })
})

/** A stream fed by hand; a reset fails the pending read, as real streams do. */
function manualStream(): TransportStream & { resets: number[]; push(chunk: Uint8Array): void; finish(): void } {
  const resets: number[] = []
  const queue: Array<IteratorResult<Uint8Array>> = []
  let waiting: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: Error) => void } | undefined
  let failure: Error | undefined
  const deliver = (result: IteratorResult<Uint8Array>): void => {
    if (waiting !== undefined) {
      const w = waiting
      waiting = undefined
      w.resolve(result)
    } else queue.push(result)
  }
  const iterator: AsyncIterator<Uint8Array> = {
    next: () => {
      if (failure !== undefined) return Promise.reject(failure)
      const result = queue.shift()
      if (result !== undefined) return Promise.resolve(result)
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject }
      })
    },
  }
  return {
    id: 1,
    direction: 'inbound',
    bidirectional: false,
    resets,
    [Symbol.asyncIterator]: () => iterator,
    write: async () => {},
    end: async () => {},
    reset: (code = 0) => {
      resets.push(code)
      failure = new StreamResetError('reset locally', code, false)
      waiting?.reject(failure)
      waiting = undefined
    },
    push: (chunk) => deliver({ done: false, value: chunk }),
    finish: () => deliver({ done: true, value: undefined }),
  }
}

const KiB = 1024
const MiB = 1024 * KiB
const budgetOf = (options: Partial<MessageBudgetOptions> = {}): MessageBudget =>
  new MessageBudget({ perConnection: 64 * MiB, total: 256 * MiB, timeout: 10_000, minRate: 1024, ...options })

describe('readMessage with a budget', () => {
  it('holds only what arrived, not what the header declares', async () => {
    const node = budgetOf()
    const stream = manualStream()
    const reading = readMessage(stream, 16 * MiB, node.forConnection())
    stream.push(Buffer.concat([encodeMessageHeader(MessageKind.SEND, 16 * MiB), Buffer.alloc(KiB)]))
    await new Promise((resolve) => setImmediate(resolve))
    expect(node.used).toBe(KiB + CHUNK_OVERHEAD)
    stream.reset(0)
    await expect(reading).rejects.toBeInstanceOf(StreamResetError)
    expect(node.used).toBe(0)
    expect(node.pending).toBe(0)
  })

  it('assembles a large message whole and gives its charge back', async () => {
    const node = budgetOf()
    const stream = manualStream()
    const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i & 0xff))
    const reading = readMessage(stream, MiB, node.forConnection())
    const whole = encodeMessage(MessageKind.SEND, payload)
    for (let at = 0; at < whole.length; at += 16 * KiB) stream.push(whole.subarray(at, at + 16 * KiB))
    stream.finish()
    const message = await reading
    expect(Buffer.from(message.data).equals(payload)).toBe(true)
    expect(node.used).toBe(0)
  })

  it('resets a stream whose data would exceed the connection budget, with LimitExceededError', async () => {
    const node = budgetOf({ perConnection: 100 * KiB })
    const connection = node.forConnection()
    const streams = [manualStream(), manualStream()]
    const readings = streams.map((s) => readMessage(s, MiB, connection).catch((e: unknown) => e))
    // Each declares 1 MiB and sends 60 KiB: the second overflows the connection's 100 KiB.
    for (const s of streams) s.push(Buffer.concat([encodeMessageHeader(MessageKind.SEND, MiB), Buffer.alloc(60 * KiB)]))
    const second = await readings[1]
    expect(second).toBeInstanceOf(LimitExceededError)
    expect((second as LimitExceededError).limit).toBe('connection.maxPendingMessageBytes')
    expect(streams[1]?.resets).toEqual([StreamResetCode.LIMIT_EXCEEDED])
    // Another connection still has room under the node-wide budget.
    const other = manualStream()
    const ok = readMessage(other, MiB, node.forConnection())
    other.push(encodeMessage(MessageKind.SEND, Buffer.alloc(80 * KiB)).subarray(0, 50 * KiB))
    other.push(encodeMessage(MessageKind.SEND, Buffer.alloc(80 * KiB)).subarray(50 * KiB))
    other.finish()
    expect((await ok).data.byteLength).toBe(80 * KiB)
    streams[0]?.reset(0)
    await readings[0]
    expect(node.used).toBe(0)
  })

  it('resets a stream that would exceed the node-wide budget', async () => {
    const node = budgetOf({ perConnection: 100 * KiB, total: 150 * KiB })
    const a = manualStream()
    const b = manualStream()
    const ra = readMessage(a, MiB, node.forConnection()).catch((e: unknown) => e)
    const rb = readMessage(b, MiB, node.forConnection()).catch((e: unknown) => e)
    a.push(Buffer.concat([encodeMessageHeader(MessageKind.SEND, MiB), Buffer.alloc(90 * KiB)]))
    b.push(Buffer.concat([encodeMessageHeader(MessageKind.SEND, MiB), Buffer.alloc(90 * KiB)]))
    const error = await rb
    expect(error).toBeInstanceOf(LimitExceededError)
    expect((error as LimitExceededError).limit).toBe('connection.maxPendingMessageBytesTotal')
    a.reset(0)
    await ra
  })

  it('still serves a connection under its fair share when others filled the node-wide budget', async () => {
    const node = budgetOf({ perConnection: 200 * KiB, total: 150 * KiB })
    const hog = manualStream()
    const modest = manualStream()
    // The hog declares 2 MiB: 140 KiB is under the eighth after which its buffer would be allocated whole.
    const rh = readMessage(hog, 2 * MiB, node.forConnection()).catch((e: unknown) => e)
    hog.push(Buffer.concat([encodeMessageHeader(MessageKind.SEND, 2 * MiB), Buffer.alloc(140 * KiB)]))
    await new Promise((resolve) => setImmediate(resolve))
    // 20 KiB more is over the 150 KiB total, but within this connection's share (75 KiB of 2 active).
    const payload = Buffer.alloc(20 * KiB, 3)
    const whole = encodeMessage(MessageKind.SEND, payload)
    const rm = readMessage(modest, MiB, node.forConnection())
    modest.push(whole.subarray(0, 5 * KiB))
    modest.push(whole.subarray(5 * KiB))
    modest.finish()
    expect(Buffer.from((await rm).data).equals(payload)).toBe(true)
    expect(node.active).toBe(1)
    hog.reset(0)
    await rh
    expect(node.active).toBe(0)
    expect(node.used).toBe(0)
  })

  it('resets an unfinished message that stops progressing, with TimeoutError', async () => {
    const node = budgetOf({ timeout: 100, minRate: 1024 })
    const stream = manualStream()
    const reading = readMessage(stream, MiB, node.forConnection()).catch((e: unknown) => e)
    stream.push(encodeMessageHeader(MessageKind.SEND, MiB))
    const started = performance.now()
    const error = await reading
    expect(error).toBeInstanceOf(TimeoutError)
    expect(stream.resets).toEqual([StreamResetCode.TIMEOUT])
    expect(performance.now() - started).toBeLessThan(1_000)
    expect(node.pending).toBe(0)
  })

  it('times out a stream that never completes its header, and a whole message whose stream never ends', async () => {
    const node = budgetOf({ timeout: 100 })
    const silent = manualStream()
    const noEnd = manualStream()
    const results = [silent, noEnd].map((s) => readMessage(s, MiB, node.forConnection()).catch((e: unknown) => e))
    silent.push(new Uint8Array([1, 0]))
    noEnd.push(encodeMessage(MessageKind.SEND, Buffer.alloc(100)))
    await new Promise((resolve) => setImmediate(resolve))
    expect(node.used).toBe(108 + CHUNK_OVERHEAD)
    for (const result of await Promise.all(results)) expect(result).toBeInstanceOf(TimeoutError)
    expect(silent.resets).toEqual([StreamResetCode.TIMEOUT])
    expect(noEnd.resets).toEqual([StreamResetCode.TIMEOUT])
    expect(node.used).toBe(0)
  })

  it('keeps a slow message that does progress', async () => {
    const node = budgetOf({ timeout: 100, minRate: 1024 })
    const stream = manualStream()
    const payload = Buffer.alloc(4 * KiB, 7)
    const whole = encodeMessage(MessageKind.SEND, payload)
    const reading = readMessage(stream, MiB, node.forConnection())
    // 512 bytes every 40 ms: 12.8 KiB/s, well above 1 KiB/s.
    for (let at = 0; at < whole.length; at += 512) {
      stream.push(whole.subarray(at, at + 512))
      await new Promise((resolve) => setTimeout(resolve, 40))
    }
    stream.finish()
    expect(Buffer.from((await reading).data).equals(payload)).toBe(true)
  })
})
