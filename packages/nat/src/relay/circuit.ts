import type { ServiceStream } from '@crust/core'
import type { ByteThrottle } from './limits.js'
import { CircuitResetCode, circuitEndReason } from './protocol.js'

/** A chunk the relay forwarded, as a {@link CircuitOptions.tap} sees it. */
export interface RelayedChunk {
  /** Peer id of the sender. */
  readonly from: string
  /** Peer id of the receiver. */
  readonly to: string
  /** The bytes, exactly as forwarded (TLS records: ciphertext). */
  readonly data: Uint8Array
}

/** How a circuit ended. */
export interface CircuitEnd {
  /** `closed` when both ends finished in order; otherwise why the relay reset it. */
  readonly reason: 'closed' | 'bytes-exceeded' | 'duration-exceeded' | 'peer-gone' | 'shutdown'
  /** Bytes forwarded, both directions. */
  readonly bytes: number
  readonly durationMs: number
}

/** Limits and hooks of one circuit. */
export interface CircuitOptions {
  /** Peer ids of the two ends, for the tap. */
  readonly requester: string
  readonly target: string
  /** Most bytes forwarded, both directions together. */
  readonly maxBytes: number
  /** Longest life of the circuit (ms). */
  readonly maxDurationMs: number
  /** The requester's bandwidth budget, if limited. */
  readonly bucket: ByteThrottle | undefined
  readonly tap: ((chunk: RelayedChunk) => void) | undefined
}

/**
 * Pipes two protocol streams into each other with backpressure (each chunk
 * is written, and the write awaited, before the next is read), counting
 * bytes. When a limit is exceeded, or one side breaks, both streams are
 * reset with a {@link CircuitResetCode} so both ends learn why.
 */
export class Circuit {
  /** Settles (never rejects) when the circuit is over. */
  readonly done: Promise<CircuitEnd>
  private bytes = 0
  private ended = false
  private readonly started = performance.now()
  private readonly timer: NodeJS.Timeout
  private readonly wakeUps = new Set<() => void>()
  private finish!: (end: CircuitEnd) => void

  /** Bytes forwarded so far, both directions. */
  get forwarded(): number {
    return this.bytes
  }

  constructor(
    private readonly requester: ServiceStream,
    private readonly target: ServiceStream,
    private readonly options: CircuitOptions,
  ) {
    this.done = new Promise((resolve) => {
      this.finish = resolve
    })
    this.timer = setTimeout(() => this.stop(CircuitResetCode.DURATION_EXCEEDED), options.maxDurationMs)
    const forward = this.pump(requester, target, options.requester, options.target)
    const backward = this.pump(target, requester, options.target, options.requester)
    void Promise.all([forward, backward]).then(() => this.settle('closed'))
  }

  /** Reset both streams with `code` (a {@link CircuitResetCode}). Idempotent. */
  stop(code: number): void {
    if (this.ended) return
    this.requester.reset(code)
    this.target.reset(code)
    const reason = circuitEndReason(code)
    this.settle(reason === 'bytes-exceeded' || reason === 'duration-exceeded' || reason === 'shutdown' ? reason : 'peer-gone')
  }

  private settle(reason: CircuitEnd['reason']): void {
    if (this.ended) return
    this.ended = true
    clearTimeout(this.timer)
    for (const wake of this.wakeUps) wake()
    this.finish({ reason, bytes: this.bytes, durationMs: performance.now() - this.started })
  }

  private async pump(from: ServiceStream, to: ServiceStream, fromPeer: string, toPeer: string): Promise<void> {
    try {
      for await (const chunk of from) {
        if (this.ended) return
        this.bytes += chunk.byteLength
        if (this.bytes > this.options.maxBytes) {
          this.stop(CircuitResetCode.BYTES_EXCEEDED)
          return
        }
        const wait = this.options.bucket?.charge(chunk.byteLength) ?? 0
        if (wait > 0) await this.sleep(wait)
        if (this.ended) return
        this.observe(fromPeer, toPeer, chunk)
        await to.write(chunk)
      }
      if (!this.ended) await to.end()
    } catch {
      // One side's stream or connection broke: the other must not wait forever.
      this.stop(CircuitResetCode.PEER_GONE)
    }
  }

  private observe(from: string, to: string, data: Uint8Array): void {
    const tap = this.options.tap
    if (tap === undefined) return
    try {
      tap({ from, to, data })
    } catch {
      // A failing observer must not break the circuit.
    }
  }

  /** Wait `ms`, or less if the circuit ends meanwhile. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        this.wakeUps.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.wakeUps.add(wake)
    })
  }
}
