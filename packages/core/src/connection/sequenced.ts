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

/** A request's answer kept for a resend: its size counts once the answer is there. */
interface Kept {
  readonly answer: Promise<KeptAnswer>
  size: number
}

/** One sender's delivered seqs: a bit per seq in [base, base + window). */
class SenderWindow {
  base: number
  private bits = new Uint8Array(SEQUENCE_WINDOW / 8)
  /** Answers of requests by seq, kept until the sender settles them. */
  readonly answers = new Map<number, Kept>()
  /** Bytes of the answers kept. */
  answerBytes = 0

  constructor(
    readonly stream: string,
    base: number,
    /** Gives bytes of forgotten answers back to the inbox's total. */
    private readonly released: (bytes: number) => void,
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
    for (const seq of this.answers.keys()) if (seq < settled) this.forget(seq)
    this.base = settled
  }

  /** Drop the answer kept for `seq`, giving its bytes back. */
  forget(seq: number): void {
    const kept = this.answers.get(seq)
    if (kept === undefined) return
    this.answers.delete(seq)
    this.answerBytes -= kept.size
    this.released(kept.size)
  }

  /** The window is dropped (replaced or evicted): give back every byte it holds. */
  drop(): void {
    for (const seq of [...this.answers.keys()]) this.forget(seq)
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
  /** The same, all senders together. */
  readonly maxAnswerBytesTotal: number
}

/**
 * The receiver's side of peer-addressed messages: which ones each sender
 * already delivered. Bounded: {@link SEQUENCE_WINDOW} bits and at most
 * `maxAnswerBytes` of kept answers per sender, `maxSenders` senders, and
 * `maxAnswerBytesTotal` of kept answers in all.
 */
export class SequencedInbox {
  private readonly senders = new Map<string, SenderWindow>()
  /** Bytes of kept answers, all senders together. */
  answerBytes = 0
  private readonly release = (bytes: number): void => {
    this.answerBytes -= bytes
  }

  constructor(private readonly limits: InboxLimits) {}

  /** Decide what to do with a message of `peerId`; a `new` one is recorded as delivered. */
  admit(peerId: string, envelope: Envelope): Admit {
    let window = this.senders.get(peerId)
    if (window === undefined || window.stream !== envelope.stream) {
      // A new stream replaces the old one: the sender starts one only when nothing of the old is outstanding.
      window?.drop()
      window = new SenderWindow(envelope.stream, envelope.settled, this.release)
    }
    this.touch(peerId, window)
    window.advance(envelope.settled)
    if (envelope.seq < window.base) return { verdict: 'stale' }
    if (window.has(envelope.seq)) return { verdict: 'duplicate', answer: window.answers.get(envelope.seq)?.answer }
    window.mark(envelope.seq)
    return { verdict: 'new' }
  }

  /** Keep the answer of request `seq` of `peerId`'s current stream for a resend, within the answer budget. */
  keepAnswer(peerId: string, envelope: Envelope, answer: Promise<KeptAnswer>): void {
    const window = this.senders.get(peerId)
    if (window === undefined || window.stream !== envelope.stream || envelope.seq < window.base) return
    const kept: Kept = { answer, size: 0 }
    window.answers.set(envelope.seq, kept)
    answer.then(
      (given) => {
        if (window.answers.get(envelope.seq) !== kept) return // settled, or the window was dropped, meanwhile
        const size = given.data.byteLength
        if (window.answerBytes + size > this.limits.maxAnswerBytes || this.answerBytes + size > this.limits.maxAnswerBytesTotal) {
          window.forget(envelope.seq)
          return
        }
        kept.size = size
        window.answerBytes += size
        this.answerBytes += size
      },
      () => window.forget(envelope.seq),
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
      if (oldest !== undefined) {
        this.senders.get(oldest)?.drop()
        this.senders.delete(oldest)
      }
    }
  }
}
