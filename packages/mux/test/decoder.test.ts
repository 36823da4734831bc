import { ProtocolError } from '@crust/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FrameDecoder } from '../src/decoder.js'
import { encodeFrame, Flag, type Frame, FrameType, MAX_FRAME_PAYLOAD, MAX_REASON_LENGTH } from '../src/frame.js'

interface Plain {
  type: number
  flags: number
  streamId: number
  length: number
  payload: number[] | undefined
}

const plain = (f: Frame): Plain => ({
  type: f.type,
  flags: f.flags,
  streamId: f.streamId,
  length: f.length,
  payload: f.payload && Array.from(f.payload),
})

const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const flags = fc.integer({ min: 0, max: 0xffff })

/** Any frame the decoder must accept. */
const validFrame: fc.Arbitrary<Plain> = fc.oneof(
  fc
    .record({ flags, streamId: u32, payload: fc.uint8Array({ maxLength: 300 }) })
    .map(({ flags, streamId, payload }) => {
      // An RST frame's payload is exactly the 4-byte code.
      const data = (flags & Flag.RST) !== 0 ? payload.subarray(0, 4).length === 4 ? payload.subarray(0, 4) : new Uint8Array(4) : payload
      return { type: FrameType.DATA, flags, streamId, length: data.length, payload: Array.from(data) }
    }),
  fc.record({ flags, streamId: u32, payload: fc.uint8Array({ maxLength: MAX_REASON_LENGTH }) }).map(({ flags, streamId, payload }) => ({
    type: FrameType.GO_AWAY,
    flags,
    streamId,
    length: payload.length,
    payload: Array.from(payload),
  })),
  fc
    .record({
      type: fc.constantFrom(FrameType.WINDOW_UPDATE, FrameType.PING, FrameType.MAX_STREAMS),
      flags,
      streamId: u32,
      length: u32,
    })
    .map((f) => ({ ...f, payload: undefined })),
)

function encode(f: Plain): Buffer {
  return encodeFrame(f.type, f.flags, f.streamId, f.payload === undefined ? f.length : Uint8Array.from(f.payload))
}

/** Split `bytes` at the given (sorted, deduplicated) cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Uint8Array[] = []
  let start = 0
  for (const p of points) {
    pieces.push(bytes.subarray(start, p))
    start = p
  }
  pieces.push(bytes.subarray(start))
  return pieces
}

describe('FrameDecoder', () => {
  it('decodes a frame split at every byte boundary', () => {
    const bytes = Buffer.concat([
      encodeFrame(FrameType.DATA, Flag.SYN | Flag.FIN, 1, Buffer.from('hello')),
      encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, 65536),
      encodeFrame(FrameType.GO_AWAY, 0, 9, Buffer.from('bye')),
    ])
    for (let i = 0; i < bytes.length; i++) {
      for (let j = i; j < bytes.length; j++) {
        const decoder = new FrameDecoder()
        const frames = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)].flatMap((c) => decoder.feed(c))
        expect(frames.map(plain)).toEqual([
          { type: 0, flags: Flag.SYN | Flag.FIN, streamId: 1, length: 5, payload: Array.from(Buffer.from('hello')) },
          { type: 1, flags: 0, streamId: 1, length: 65536, payload: undefined },
          { type: 3, flags: 0, streamId: 9, length: 3, payload: Array.from(Buffer.from('bye')) },
        ])
        expect(decoder.idle).toBe(true)
      }
    }
  })

  it('rejects a bad version, an unknown type and oversized lengths', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), /version/],
      [Buffer.from([0, 5, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), /type/],
      [Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]), /exceeds/],
      [Buffer.from([0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]), /reason/],
      [Buffer.from([0, 0, 0, Flag.RST, 0, 0, 0, 1, 0, 0, 0, 0]), /RST/],
    ]
    for (const [bytes, message] of cases) {
      const decoder = new FrameDecoder()
      expect(() => decoder.feed(bytes)).toThrow(message)
      // Poisoned: later input fails the same way.
      expect(() => decoder.feed(Buffer.alloc(12))).toThrow(ProtocolError)
    }
  })

  it('accepts the largest DATA payload and refuses one byte more', () => {
    const header = (length: number) => encodeFrame(FrameType.DATA, 0, 1, length)
    const decoder = new FrameDecoder()
    expect(decoder.feed(header(MAX_FRAME_PAYLOAD))).toEqual([])
    expect(decoder.feed(Buffer.alloc(MAX_FRAME_PAYLOAD))).toHaveLength(1)
    expect(() => new FrameDecoder().feed(header(MAX_FRAME_PAYLOAD + 1))).toThrow(ProtocolError)
  })

  it('property: valid frames split at arbitrary points decode to the same frames', () => {
    fc.assert(
      fc.property(fc.array(validFrame, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map(encode))
        const decoder = new FrameDecoder()
        const decoded = split(bytes, cuts).flatMap((piece) => decoder.feed(piece))
        expect(decoded.map(plain)).toEqual(frames)
        expect(decoder.idle).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it('property: random bytes yield frames or a ProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const decoder = new FrameDecoder()
        try {
          for (const chunk of chunks) decoder.feed(chunk)
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError)
        }
      }),
      { numRuns: 2_000 },
    )
  })

  it('property: random headers never allocate more than the payload limit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), (header) => {
        // Version and type biased to valid values so the length checks are reached.
        header[0] = 0
        header[1] = (header[1] as number) % 6
        const decoder = new FrameDecoder()
        try {
          decoder.feed(header)
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError)
          return
        }
        const pending = (decoder as unknown as { payload?: Uint8Array }).payload
        expect(pending?.length ?? 0).toBeLessThanOrEqual(MAX_FRAME_PAYLOAD)
      }),
      { numRuns: 2_000 },
    )
  })
})

describe('a DATA payload dribbled in tiny pieces', () => {
  it('is gathered into one buffer instead of an object per piece', () => {
    const payload = Buffer.from(Array.from({ length: 40_000 }, (_, i) => i & 0xff))
    const frame = encodeFrame(FrameType.DATA, 0, 1, payload)
    const decoder = new FrameDecoder()
    const pieces: Uint8Array[][] = []
    const frames: Array<Uint8Array | undefined> = []
    const sink = {
      frame: (_t: number, _f: number, _s: number, _l: number, p: Uint8Array | undefined) => void frames.push(p),
      pieces: (_f: number, _s: number, _l: number, p: Uint8Array[]) => void pieces.push(p),
    }
    // 12-byte header, then 100-byte reads: 400 pieces, over the 256 kept as views.
    decoder.decode(frame.subarray(0, 12), sink)
    for (let at = 12; at < frame.length; at += 100) decoder.decode(frame.subarray(at, at + 100), sink)
    expect(pieces).toHaveLength(0)
    expect(frames).toHaveLength(1)
    expect(Buffer.from(frames[0] as Uint8Array).equals(payload)).toBe(true)
  })
})
