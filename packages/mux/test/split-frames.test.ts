import { createHash, randomBytes } from 'node:crypto'
import { CloseCode, ProtocolError, type TransportStream } from '@crust/core'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { COPY_SPLIT_PAYLOAD, FrameDecoder, type FrameSink } from '../src/decoder.js'
import { encodeFrame, Flag, FrameType, INITIAL_WINDOW } from '../src/index.js'
import { type MuxerPair, rawPeer, readAll, sleep, tcpPair } from './helpers.js'

interface Seen {
  type: number
  flags: number
  streamId: number
  length: number
  payload: number[] | undefined
  /** How the payload came: whole (`frame`) or as views of the input (`pieces`). */
  via: 'frame' | 'pieces'
}

/** A sink recording what the decoder hands over, checking that pieces are views of the input. */
function recorder(inputs: Uint8Array[]): FrameSink & { seen: Seen[] } {
  const seen: Seen[] = []
  return {
    seen,
    frame(type, flags, streamId, length, payload) {
      seen.push({ type, flags, streamId, length, payload: payload && Array.from(payload), via: 'frame' })
    },
    pieces(flags, streamId, length, pieces) {
      for (const piece of pieces) {
        // Zero-copy: every piece lies in one of the chunks fed in.
        expect(inputs.some((chunk) => chunk.buffer === piece.buffer)).toBe(true)
      }
      const payload = Buffer.concat(pieces)
      expect(payload.length).toBe(length)
      seen.push({ type: FrameType.DATA, flags, streamId, length, payload: Array.from(payload), via: 'pieces' })
    },
  }
}

/** Split `bytes` at the given cut points, copying each piece into a buffer of its own (as a socket delivers them). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Uint8Array[] = []
  let start = 0
  for (const p of [...points, bytes.length]) {
    pieces.push(Uint8Array.from(bytes.subarray(start, p)))
    start = p
  }
  return pieces
}

describe('FrameDecoder.decode', () => {
  it('property: large split DATA payloads come as views of the input, small ones as copies, all intact', () => {
    const dataFrame = fc
      .record({ flags: fc.integer({ min: 0, max: 0xffff }).map((f) => f & ~Flag.RST), streamId: fc.nat(), size: fc.nat(20_000) })
      .map(({ flags, streamId, size }) => ({ flags, streamId, payload: randomBytes(size) }))
    fc.assert(
      fc.property(fc.array(dataFrame, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(FrameType.DATA, f.flags, f.streamId, f.payload)))
        const chunks = split(bytes, cuts)
        const decoder = new FrameDecoder()
        const sink = recorder(chunks)
        for (const chunk of chunks) decoder.decode(chunk, sink)
        expect(decoder.idle).toBe(true)
        expect(sink.seen.map(({ via: _, ...f }) => f)).toEqual(
          frames.map((f) => ({ type: FrameType.DATA, flags: f.flags, streamId: f.streamId, length: f.payload.length, payload: Array.from(f.payload) })),
        )
        for (const seen of sink.seen) if (seen.via === 'pieces') expect(seen.length).toBeGreaterThan(COPY_SPLIT_PAYLOAD)
      }),
      { numRuns: 300 },
    )
  })

  it('hands a frame over once, when its last byte arrives, even if its header ended a chunk', () => {
    const payload = randomBytes(3 * COPY_SPLIT_PAYLOAD)
    const bytes = encodeFrame(FrameType.DATA, Flag.SYN | Flag.FIN, 1, payload)
    const chunks = [bytes.subarray(0, 12), bytes.subarray(12, 100), bytes.subarray(100)]
    const decoder = new FrameDecoder()
    const sink = recorder(chunks)
    decoder.decode(chunks[0] as Uint8Array, sink)
    decoder.decode(chunks[1] as Uint8Array, sink)
    expect(sink.seen).toEqual([])
    expect(decoder.idle).toBe(false)
    decoder.decode(chunks[2] as Uint8Array, sink)
    expect(sink.seen).toHaveLength(1)
    expect(sink.seen[0]?.via).toBe('pieces')
    expect(Buffer.from(sink.seen[0]?.payload ?? []).equals(payload)).toBe(true)
  })
})

describe('split frames through the muxer', () => {
  it('a large SYN frame split after its header arrives intact, delivered once complete', async () => {
    const peer = await rawPeer('inbound')
    const payload = randomBytes(100 * 1024)
    const bytes = encodeFrame(FrameType.DATA, Flag.SYN | Flag.UNI | Flag.FIN, 1, payload)
    let stream: TransportStream | undefined
    peer.muxer.onStream((s) => {
      stream = s
    })
    peer.raw.write(bytes.subarray(0, 12))
    await sleep(20)
    peer.raw.write(bytes.subarray(12, 30_000))
    await sleep(20)
    // Not before the frame is complete (as with frames copied whole).
    expect(stream).toBeUndefined()
    peer.raw.write(bytes.subarray(30_000))
    for (let i = 0; i < 100 && stream === undefined; i++) await sleep(10)
    expect(stream).toBeDefined()
    const received = await readAll(stream as TransportStream)
    expect(received.equals(payload)).toBe(true)
    await peer.muxer.close()
  })

  it('a split frame beyond the receive window is a protocol error', async () => {
    const peer = await rawPeer('inbound')
    peer.muxer.onStream(() => {})
    const frame = encodeFrame(FrameType.DATA, Flag.SYN, 1, Buffer.alloc(INITIAL_WINDOW + 1))
    for (let at = 0; at < frame.length; at += 10_000) peer.raw.write(frame.subarray(at, at + 10_000))
    const info = await peer.muxer.closed
    expect(info.code).toBe(CloseCode.PROTOCOL_ERROR)
    expect(info.error).toBeInstanceOf(ProtocolError)
    expect(info.error?.message).toMatch(/exceed the receive window/)
  })
})

describe('writes copied into reused staging buffers', () => {
  let pairs: MuxerPair[] = []

  afterEach(async () => {
    await Promise.all(pairs.map((p) => p.close()))
    pairs = []
  })

  it('a caller may reuse its buffer as soon as write() resolves', async () => {
    const pair = await tcpPair()
    pairs.push(pair)
    const received = new Promise<Buffer>((resolve, reject) => pair.server.onStream((s) => readAll(s).then(resolve, reject)))
    const stream = await pair.client.openStream({ bidirectional: false })
    const buffer = Buffer.alloc(1024 * 1024)
    const expected = createHash('sha256')
    for (let i = 0; i < 16; i++) {
      // Large writes, and batches of small ones that share a flush.
      buffer.fill(i)
      expected.update(buffer)
      await stream.write(buffer)
      const small = buffer.subarray(0, 6000)
      for (let j = 0; j < 8; j++) {
        small.fill(100 + j)
        expected.update(small)
        await stream.write(small)
      }
    }
    await stream.end()
    const got = await received
    expect(createHash('sha256').update(got).digest('hex')).toBe(expected.digest('hex'))
  })

  it('a staging buffer the kernel has not taken yet is never reused', async () => {
    // The readers stop reading the socket: writes back up into libuv, which then
    // holds staging buffers until the kernel takes the bytes (window granted up front).
    const window = { initialWindow: 32 * 1024 * 1024, maxWindow: 32 * 1024 * 1024 }
    pairs = await Promise.all(Array.from({ length: 3 }, () => tcpPair(window, window)))
    for (const pair of pairs) pair.serverSocket.pause()
    const results = pairs.map(async (pair, n) => {
      const received = new Promise<Buffer>((resolve, reject) => pair.server.onStream((s) => readAll(s).then(resolve, reject)))
      const stream = await pair.client.openStream({ bidirectional: false })
      const expected = createHash('sha256')
      const block = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < 12; i++) {
        block.fill((n << 4) | i)
        expected.update(block)
        await stream.write(block)
      }
      await stream.end()
      const got = await received
      expect(createHash('sha256').update(got).digest('hex')).toBe(expected.digest('hex'))
    })
    for (const pair of pairs) {
      await sleep(100)
      pair.serverSocket.resume()
    }
    await Promise.all(results)
  })

  it('connections writing at once never see each other’s bytes', async () => {
    pairs = await Promise.all(Array.from({ length: 4 }, () => tcpPair()))
    await Promise.all(
      pairs.map(async (pair, n) => {
        const received = new Promise<Buffer>((resolve, reject) => pair.server.onStream((s) => readAll(s).then(resolve, reject)))
        const stream = await pair.client.openStream({ bidirectional: false })
        const expected = createHash('sha256')
        for (let i = 0; i < 32; i++) {
          const block = Buffer.alloc(256 * 1024 + 1000 * n, (n << 5) | i)
          expected.update(block)
          await stream.write(block)
          block.fill(0xff) // reused at once: must not change what was sent
        }
        await stream.end()
        const got = await received
        expect(createHash('sha256').update(got).digest('hex')).toBe(expected.digest('hex'))
      }),
    )
  })
})
