import { ProtocolError } from '@crust/core'
import {
  Flag,
  type Frame,
  FrameType,
  HEADER_LENGTH,
  hasPayload,
  MAX_FRAME_PAYLOAD,
  MAX_REASON_LENGTH,
  RST_PAYLOAD_LENGTH,
  VERSION,
} from './frame.js'

const EMPTY = new Uint8Array(0)
const MAX_TYPE = FrameType.MAX_STREAMS

/**
 * Incremental frame decoder. Bytes arrive in arbitrary pieces (a header may be
 * split across reads, a read may hold many frames); {@link feed} returns every
 * frame completed so far. Payloads that lie wholly inside one chunk are
 * zero-copy views of it; only payloads split across chunks are copied, into a
 * buffer of the exact size the (already validated) header announced, so a
 * header claiming 4 GiB never allocates anything.
 *
 * The first violation throws {@link ProtocolError}, after which the decoder is
 * unusable: every later `feed` throws the same error.
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(HEADER_LENGTH)
  private headerFill = 0
  // State of a frame whose header is parsed but whose payload is incomplete.
  private type = 0
  private flags = 0
  private streamId = 0
  private length = 0
  private payload: Uint8Array | undefined
  private payloadFill = 0
  private failure: ProtocolError | undefined

  /** Feed the next bytes from the wire; returns the frames they complete, in order. */
  feed(chunk: Uint8Array): Frame[] {
    if (this.failure) throw this.failure
    const frames: Frame[] = []
    const end = chunk.length
    let i = 0
    while (i < end) {
      if (this.payload !== undefined) {
        // Continue a payload split across chunks.
        const n = Math.min(this.length - this.payloadFill, end - i)
        this.payload.set(chunk.subarray(i, i + n), this.payloadFill)
        this.payloadFill += n
        i += n
        if (this.payloadFill === this.length) {
          frames.push({ type: this.type, flags: this.flags, streamId: this.streamId, length: this.length, payload: this.payload })
          this.payload = undefined
        }
        continue
      }
      let h: Uint8Array
      let at: number
      if (this.headerFill === 0 && end - i >= HEADER_LENGTH) {
        // Fast path: the whole header is in this chunk.
        h = chunk
        at = i
        i += HEADER_LENGTH
      } else {
        const n = Math.min(HEADER_LENGTH - this.headerFill, end - i)
        this.header.set(chunk.subarray(i, i + n), this.headerFill)
        this.headerFill += n
        i += n
        if (this.headerFill < HEADER_LENGTH) break
        this.headerFill = 0
        h = this.header
        at = 0
      }
      const type = h[at + 1] as number
      const flags = ((h[at + 2] as number) << 8) | (h[at + 3] as number)
      const streamId = u32(h, at + 4)
      const length = u32(h, at + 8)
      this.check(h[at] as number, type, flags, length)
      if (!hasPayload(type)) {
        frames.push({ type, flags, streamId, length, payload: undefined })
      } else if (end - i >= length) {
        frames.push({ type, flags, streamId, length, payload: length === 0 ? EMPTY : chunk.subarray(i, i + length) })
        i += length
      } else {
        this.type = type
        this.flags = flags
        this.streamId = streamId
        this.length = length
        this.payload = new Uint8Array(length)
        this.payloadFill = 0
      }
    }
    return frames
  }

  /** True when no partial frame is pending (the byte stream ended on a frame boundary). */
  get idle(): boolean {
    return this.headerFill === 0 && this.payload === undefined
  }

  private check(version: number, type: number, flags: number, length: number): void {
    let problem: string | undefined
    if (version !== VERSION) problem = `unsupported version ${version}`
    else if (type > MAX_TYPE) problem = `unknown frame type ${type}`
    else if (type === FrameType.DATA) {
      if (length > MAX_FRAME_PAYLOAD) problem = `DATA frame of ${length} bytes exceeds ${MAX_FRAME_PAYLOAD}`
      else if ((flags & Flag.RST) !== 0 && length !== RST_PAYLOAD_LENGTH) problem = 'RST frame without a 4-byte code'
    } else if (type === FrameType.GO_AWAY && length > MAX_REASON_LENGTH) {
      problem = `GO_AWAY reason of ${length} bytes exceeds ${MAX_REASON_LENGTH}`
    }
    if (problem !== undefined) {
      this.failure = new ProtocolError(problem)
      throw this.failure
    }
  }
}

/** Read a big-endian u32. */
export function u32(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0
}
