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
