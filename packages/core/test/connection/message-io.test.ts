import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MessageKind, encodeMessage, encodeMessageHeader } from '../../src/connection/message-header.js'
import { readMessage } from '../../src/connection/message-io.js'
import { StreamResetCode } from '../../src/connection/stream-codes.js'
import { MessageTooLargeError, ProtocolError } from '../../src/errors.js'
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
