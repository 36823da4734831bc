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
 * A split DATA payload up to this size is copied into one buffer; a larger one
 * is handed on as the pieces it arrived in (zero-copy views of the input).
 * Copying is cheap for small payloads and keeps a small message in one chunk;
 * for large ones (64 KiB frames arrive as 16 KiB TLS records) it would mean a
 * fresh buffer and a copy per frame.
 */
export const COPY_SPLIT_PAYLOAD = 4096
/**
 * Pieces a split DATA payload may arrive in before it is copied into one
 * buffer. A 1 MiB frame in 16 KiB TLS records is 64 pieces; only a peer that
 * dribbles a frame in tiny reads gets anywhere near this.
 */
const MAX_PARTS = 256

/**
 * Receives the frames {@link FrameDecoder.decode} completes, in wire order.
 * Either method may throw (a `ProtocolError` for frames the receiver
 * refuses); the exception propagates out of `decode`.
 */
export interface FrameSink {
  /**
   * A whole frame; `payload` is set for DATA and GO_AWAY. A payload that lay
   * in one input chunk is a view of it; a split one is a copy.
   */
  frame(type: number, flags: number, streamId: number, length: number, payload: Uint8Array | undefined): void
  /**
   * A whole DATA frame whose payload (over {@link COPY_SPLIT_PAYLOAD} bytes)
   * arrived split: `pieces` are views of the input chunks, in order, together
   * `length` bytes.
   */
  pieces(flags: number, streamId: number, length: number, pieces: Uint8Array[]): void
}

/**
 * Incremental frame decoder. Bytes arrive in arbitrary pieces (a header may be
 * split across reads, a read may hold many frames); frames come out whole.
 *
 * Payloads that lie wholly inside one chunk are zero-copy views of it. A small
 * payload split across chunks is copied into a buffer of the exact size the
 * (already validated) header announced, so a header claiming 4 GiB never
 * allocates anything; a large DATA payload split across chunks is not copied
 * at all but handed on as views of the chunks it arrived in
 * ({@link FrameSink.pieces}; {@link feed} joins them).
 *
 * The first violation throws {@link ProtocolError}, after which the decoder is
 * unusable: every later call throws the same error.
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(HEADER_LENGTH)
  private headerFill = 0
  // State of a frame whose header is parsed but whose payload is incomplete.
  private pending = false
  private type = 0
  private flags = 0
  private streamId = 0
  private length = 0
  private fill = 0
  /** The copy of a small split payload, or undefined while collecting `parts`. */
  private payload: Uint8Array | undefined
  private parts: Uint8Array[] | undefined
  private failure: ProtocolError | undefined
  private collector: FrameCollector | undefined

  /** Feed the next bytes from the wire; returns the frames they complete, in order. */
  feed(chunk: Uint8Array): Frame[] {
    if (this.collector === undefined) this.collector = new FrameCollector()
    const collector = this.collector
    try {
      this.decode(chunk, collector)
      return collector.frames
    } finally {
      collector.frames = []
    }
  }

  /** Decode the next bytes from the wire, handing every completed frame to `sink`. */
  decode(chunk: Uint8Array, sink: FrameSink): void {
    if (this.failure) throw this.failure
    const end = chunk.length
    let i = 0
    while (i < end) {
      if (this.pending) {
        // Continue a payload split across chunks.
        const n = Math.min(this.length - this.fill, end - i)
        const piece = chunk.subarray(i, i + n)
        let payload = this.payload
        if (payload !== undefined) payload.set(piece, this.fill)
        else if ((this.parts as Uint8Array[]).length < MAX_PARTS) (this.parts as Uint8Array[]).push(piece)
        else payload = this.gather(piece)
        this.fill += n
        i += n
        if (this.fill === this.length) {
          this.pending = false
          if (payload !== undefined) {
            this.payload = undefined
            sink.frame(this.type, this.flags, this.streamId, this.length, payload)
          } else {
            const parts = this.parts as Uint8Array[]
            this.parts = undefined
            sink.pieces(this.flags, this.streamId, this.length, parts)
          }
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
        sink.frame(type, flags, streamId, length, undefined)
      } else if (end - i >= length) {
        sink.frame(type, flags, streamId, length, length === 0 ? EMPTY : chunk.subarray(i, i + length))
        i += length
      } else {
        this.pending = true
        this.type = type
        this.flags = flags
        this.streamId = streamId
        this.length = length
        this.fill = 0
        if (type === FrameType.DATA && length > COPY_SPLIT_PAYLOAD) this.parts = []
        else this.payload = new Uint8Array(length)
      }
    }
  }

  /**
   * A payload arriving in very many small pieces: copy what came so far into
   * one buffer and continue in it, so a peer that sends a frame in tiny reads
   * cannot make us hold an object per read (the frame is at most 1 MiB).
   */
  private gather(piece: Uint8Array): Uint8Array {
    const payload = new Uint8Array(this.length)
    let offset = 0
    for (const part of this.parts as Uint8Array[]) {
      payload.set(part, offset)
      offset += part.length
    }
    payload.set(piece, offset)
    this.parts = undefined
    this.payload = payload
    return payload
  }

  /** True when no partial frame is pending (the byte stream ended on a frame boundary). */
  get idle(): boolean {
    return this.headerFill === 0 && !this.pending
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

/** The sink behind {@link FrameDecoder.feed}: collects frames, joining split payloads. */
class FrameCollector implements FrameSink {
  frames: Frame[] = []

  frame(type: number, flags: number, streamId: number, length: number, payload: Uint8Array | undefined): void {
    this.frames.push({ type, flags, streamId, length, payload })
  }

  pieces(flags: number, streamId: number, length: number, pieces: Uint8Array[]): void {
    const payload = new Uint8Array(length)
    let offset = 0
    for (const piece of pieces) {
      payload.set(piece, offset)
      offset += piece.length
    }
    this.frames.push({ type: FrameType.DATA, flags, streamId, length, payload })
  }
}

/** Read a big-endian u32. */
export function u32(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0
}
