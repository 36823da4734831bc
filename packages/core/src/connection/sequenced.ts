/**
 * Peer-addressed messages (`node.send(peerId)`, `node.request(peerId)`)
 * carry an envelope so the receiver delivers each one once, however often the
 * sender had to resend it across reconnections:
 *
 * | bytes | field                                                        |
 * |-------|--------------------------------------------------------------|
 * | 0-7   | stream: random, chosen by the sender for its messages to this peer |
 * | 8-11  | seq: the message's number in that stream, u32 big-endian     |
 * | 12-15 | settled: every seq below it is settled at the sender (no resend can follow), u32 |
 *
 * The receiver remembers, per sending peer, which seqs of the current
 * stream it delivered within a window of {@link SEQUENCE_WINDOW} above
 * `settled`; the sender never has messages outstanding across a wider span.
 * So memory per sender is fixed, and a resend of a delivered message is
 * acknowledged (a request: answered from the answer kept for it) without
 * reaching the application twice.
 *
 * @packageDocumentation
 */
import { ProtocolError } from '../errors.js'
import type { MessageKind } from './message-header.js'

/** A request's answer as it went out: kept so a resend gets the same one. */
export interface KeptAnswer {
  /** `RESPONSE` or `ERROR_RESPONSE`. */
  readonly kind: MessageKind
  readonly data: Uint8Array
}

/** Bytes of the envelope in front of a sequenced payload. */
export const ENVELOPE_SIZE = 16
/** Widest span of seqs a sender may have outstanding to one peer; the receiver tracks this many per sender. */
export const SEQUENCE_WINDOW = 1024

/** A sequenced message's envelope. */
export interface Envelope {
  /** 16 hex digits. */
  readonly stream: string
  readonly seq: number
  readonly settled: number
}

export function encodeEnvelope(envelope: Envelope): Buffer {
  const bytes = Buffer.allocUnsafe(ENVELOPE_SIZE)
  bytes.write(envelope.stream, 0, 8, 'hex')
  bytes.writeUInt32BE(envelope.seq >>> 0, 8)
  bytes.writeUInt32BE(envelope.settled >>> 0, 12)
  return bytes
}

/** Split a sequenced payload into its envelope and the application's data. */
export function decodeEnvelope(payload: Uint8Array): { envelope: Envelope; data: Uint8Array } {
  if (payload.byteLength < ENVELOPE_SIZE) throw new ProtocolError(`sequenced message of ${payload.byteLength} bytes has no envelope`)
  const view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  const envelope = {
    stream: view.toString('hex', 0, 8),
    seq: view.readUInt32BE(8),
    settled: view.readUInt32BE(12),
  }
  if (envelope.seq < envelope.settled) throw new ProtocolError(`sequenced message ${envelope.seq} is below its own settled mark ${envelope.settled}`)
  if (envelope.seq - envelope.settled >= SEQUENCE_WINDOW) {
    throw new ProtocolError(`sequenced message ${envelope.seq} is ${SEQUENCE_WINDOW} or more above the settled mark ${envelope.settled}`)
  }
  return { envelope, data: view.subarray(ENVELOPE_SIZE) }
}

/** What the receiver does with a sequenced message. */
export type Admit =
  /** First arrival: deliver it. */
  | { readonly verdict: 'new' }
  /** Delivered before: do not deliver again; for a request, `answer` settles with the answer given then (if it is still kept). */
  | { readonly verdict: 'duplicate'; readonly answer: Promise<KeptAnswer> | undefined }
  /** The sender settled it already (it no longer waits): ignore. */
  | { readonly verdict: 'stale' }

/** One sender's delivered seqs: a bit per seq in [base, base + window). */
class SenderWindow {
  base: number
  private bits = new Uint8Array(SEQUENCE_WINDOW / 8)
  /** Answers of requests by seq, kept until the sender settles them. */
  readonly answers = new Map<number, Promise<KeptAnswer>>()
  answerBytes = 0

  constructor(
    readonly stream: string,
    base: number,
  ) {
    this.base = base
  }

  /** Forget everything below `settled` (the sender will not resend it). */
  advance(settled: number): void {
    if (settled <= this.base) return
    const shift = settled - this.base
    if (shift >= SEQUENCE_WINDOW) this.bits.fill(0)
    else {
      const next = new Uint8Array(SEQUENCE_WINDOW / 8)
      for (let i = shift; i < SEQUENCE_WINDOW; i++) if (this.has(this.base + i)) set(next, i - shift)
      this.bits = next
    }
    for (const seq of this.answers.keys()) if (seq < settled) this.answers.delete(seq)
    if (this.answers.size === 0) this.answerBytes = 0
    this.base = settled
  }

  has(seq: number): boolean {
    const i = seq - this.base
    return i >= 0 && i < SEQUENCE_WINDOW && ((this.bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0
  }

  mark(seq: number): void {
    set(this.bits, seq - this.base)
  }
}

function set(bits: Uint8Array, i: number): void {
  bits[i >> 3] = (bits[i >> 3] ?? 0) | (1 << (i & 7))
}

/** Limits of a {@link SequencedInbox}. */
export interface InboxLimits {
  /** Senders whose windows are kept; the least recently heard is forgotten first. */
  readonly maxSenders: number
  /** Answer bytes kept per sender for resent requests; beyond it an answer is not kept (the resend learns it was lost). */
  readonly maxAnswerBytes: number
}

/**
 * The receiver's side of peer-addressed messages: which ones each sender
 * already delivered. Bounded: {@link SEQUENCE_WINDOW} bits and at most
 * `maxAnswerBytes` of kept answers per sender, `maxSenders` senders.
 */
export class SequencedInbox {
  private readonly senders = new Map<string, SenderWindow>()

  constructor(private readonly limits: InboxLimits) {}

  /** Decide what to do with a message of `peerId`; a `new` one is recorded as delivered. */
  admit(peerId: string, envelope: Envelope): Admit {
    let window = this.senders.get(peerId)
    if (window === undefined || window.stream !== envelope.stream) {
      // A new stream replaces the old one: the sender starts one only when nothing of the old is outstanding.
      window = new SenderWindow(envelope.stream, envelope.settled)
    }
    this.touch(peerId, window)
    window.advance(envelope.settled)
    if (envelope.seq < window.base) return { verdict: 'stale' }
    if (window.has(envelope.seq)) return { verdict: 'duplicate', answer: window.answers.get(envelope.seq) }
    window.mark(envelope.seq)
    return { verdict: 'new' }
  }

  /** Keep the answer of request `seq` of `peerId`'s current stream for a resend, within the answer budget. */
  keepAnswer(peerId: string, envelope: Envelope, answer: Promise<KeptAnswer>): void {
    const window = this.senders.get(peerId)
    if (window === undefined || window.stream !== envelope.stream || envelope.seq < window.base) return
    window.answers.set(envelope.seq, answer)
    answer.then(
      (kept) => {
        if (window.answers.get(envelope.seq) !== answer) return
        const size = kept.data.byteLength
        if (window.answerBytes + size > this.limits.maxAnswerBytes) window.answers.delete(envelope.seq)
        else window.answerBytes += size
      },
      () => {},
    )
  }

  /** Senders tracked now. */
  get size(): number {
    return this.senders.size
  }

  private touch(peerId: string, window: SenderWindow): void {
    this.senders.delete(peerId)
    this.senders.set(peerId, window)
    if (this.senders.size > this.limits.maxSenders) {
      const oldest = this.senders.keys().next().value
      if (oldest !== undefined) this.senders.delete(oldest)
    }
  }
}
