import type { RelayLimit } from './errors.js'

/** The per-peer and global limits a relay enforces (resolved options). */
export interface CircuitLimits {
  readonly maxCircuits: number
  readonly maxCircuitsPerPeer: number
  readonly circuitRate: { readonly circuits: number; readonly intervalMs: number }
  /** Bytes per second per requesting peer, over all its circuits and both directions; 0 = unlimited. */
  readonly maxBytesPerSecond: number
}

/** A granted circuit slot; release it exactly once when the circuit ends. */
export interface Reservation {
  readonly release: () => void
  /** The requesting peer's bandwidth budget, shared by its circuits (undefined: unlimited). */
  readonly bucket: ByteThrottle | undefined
}

/** Why a reservation was refused. */
export interface LimitRefusal {
  readonly limit: RelayLimit
  readonly message: string
}

/** Entries kept before idle ones are swept (peers that stopped asking within the rate window). */
const SWEEP_AT = 1024

interface PeerUsage {
  active: number
  /** When this peer's recent circuit requests were granted (ms), oldest first. */
  readonly opens: number[]
  readonly bucket: ByteThrottle | undefined
}

/**
 * Counts circuits per requesting peer and in total, and refuses a new one
 * that would exceed a limit. Memory is bounded: a peer's entry is dropped
 * once it has no open circuit and no request inside the rate window.
 */
export class CircuitAccounting {
  private readonly peers = new Map<string, PeerUsage>()
  private active = 0

  constructor(private readonly limits: CircuitLimits) {}

  /** Open circuits in total. */
  get activeCircuits(): number {
    return this.active
  }

  /** Reserve a circuit for `peerId`, or say which limit refuses it. */
  reserve(peerId: string, now = Date.now()): Reservation | LimitRefusal {
    const { maxCircuits, maxCircuitsPerPeer, circuitRate } = this.limits
    if (this.active >= maxCircuits) return { limit: 'circuits', message: `the relay carries its maximum of ${maxCircuits} circuits` }
    if (this.peers.size >= SWEEP_AT) for (const known of [...this.peers.keys()]) this.forgetIdle(known, now)
    const usage = this.usage(peerId)
    prune(usage.opens, now - circuitRate.intervalMs)
    if (usage.active >= maxCircuitsPerPeer) {
      return { limit: 'peer-circuits', message: `at most ${maxCircuitsPerPeer} concurrent circuits per peer` }
    }
    if (usage.opens.length >= circuitRate.circuits) {
      return { limit: 'peer-rate', message: `at most ${circuitRate.circuits} circuits per ${circuitRate.intervalMs} ms per peer` }
    }
    usage.opens.push(now)
    usage.active++
    this.active++
    let released = false
    return {
      bucket: usage.bucket,
      release: () => {
        if (released) return
        released = true
        usage.active--
        this.active--
        this.forgetIdle(peerId, Date.now())
      },
    }
  }

  private usage(peerId: string): PeerUsage {
    let usage = this.peers.get(peerId)
    if (usage === undefined) {
      const rate = this.limits.maxBytesPerSecond
      usage = { active: 0, opens: [], bucket: rate > 0 ? new ByteThrottle(rate) : undefined }
      this.peers.set(peerId, usage)
    }
    return usage
  }

  private forgetIdle(peerId: string, now: number): void {
    const usage = this.peers.get(peerId)
    if (usage === undefined || usage.active > 0) return
    prune(usage.opens, now - this.limits.circuitRate.intervalMs)
    if (usage.opens.length === 0) this.peers.delete(peerId)
  }
}

/** True when `value` is a refusal rather than a reservation. */
export function isRefusal(value: Reservation | LimitRefusal): value is LimitRefusal {
  return 'limit' in value
}

function prune(times: number[], before: number): void {
  let stale = 0
  while (stale < times.length && (times[stale] as number) <= before) stale++
  if (stale > 0) times.splice(0, stale)
}

/**
 * A byte throttle: a token bucket of `rate` bytes per second holding at most
 * one second's worth. Bytes are charged at once (the balance may go negative) and the
 * caller waits the returned time, so concurrent circuits share it fairly
 * without a queue.
 */
export class ByteThrottle {
  private tokens: number
  private last = performance.now()

  constructor(private readonly rate: number) {
    this.tokens = rate
  }

  /** Charge `bytes`; returns how long to wait (ms) before sending them (0: at once). */
  charge(bytes: number): number {
    const now = performance.now()
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000)
    this.last = now
    this.tokens -= bytes
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000
  }
}
