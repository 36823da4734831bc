/**
 * Admission control for inbound connections by remote IP, applied before any
 * TLS work so that one host cannot exhaust the node's connection slots.
 *
 * @packageDocumentation
 */
import { normalizeIp } from '../transport/address.js'
import { CloseCode } from '../transport/types.js'

/** Options for {@link InboundLimiter}. */
export interface InboundLimiterOptions {
  /** Most inbound connections (admitted and not yet released) from one IP. */
  readonly maxInboundPerIp: number
  /** Most connections the node holds in total, in either direction. */
  readonly maxConnections: number
  /**
   * The node's current number of connections. Include connections still
   * handshaking, or a burst of inbound handshakes can overshoot the limit.
   */
  readonly countConnections: () => number
}

/**
 * The limiter's answer. A refusal carries `code` (`CloseCode.LIMIT_REACHED`)
 * so it can be returned as a transport `GateDecision` unchanged.
 */
export type AdmitDecision =
  | { readonly allow: true; readonly release: () => void }
  | { readonly allow: false; readonly code: number; readonly reason: string }

/**
 * Counts inbound connections per remote IP. Each admitted connection holds a
 * slot until its `release` is called (when the connection or attempt ends).
 * IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export class InboundLimiter {
  readonly #options: InboundLimiterOptions
  /** Only IPs with a non-zero count are kept, so memory follows live connections. */
  readonly #perIp = new Map<string, number>()
  #total = 0

  /** @throws RangeError when a limit is not a positive integer. */
  constructor(options: InboundLimiterOptions) {
    for (const key of ['maxInboundPerIp', 'maxConnections'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) {
        throw new RangeError(`InboundLimiter: ${key} must be a positive integer, got ${options[key]}`)
      }
    }
    this.#options = options
  }

  /**
   * Decide on a new inbound connection from `ip`. When allowed, the caller
   * must call `release` once the connection ends; extra calls are ignored.
   */
  admit(ip: string): AdmitDecision {
    const { maxConnections, maxInboundPerIp, countConnections } = this.#options
    if (countConnections() >= maxConnections) {
      return { allow: false, code: CloseCode.LIMIT_REACHED, reason: `connection limit reached (${maxConnections})` }
    }
    const key = normalizeIp(ip.toLowerCase())
    const count = this.#perIp.get(key) ?? 0
    if (count >= maxInboundPerIp) {
      return {
        allow: false,
        code: CloseCode.LIMIT_REACHED,
        reason: `too many inbound connections from ${key} (limit ${maxInboundPerIp})`,
      }
    }
    this.#perIp.set(key, count + 1)
    this.#total++
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.#total--
      const remaining = (this.#perIp.get(key) ?? 1) - 1
      if (remaining <= 0) this.#perIp.delete(key)
      else this.#perIp.set(key, remaining)
    }
    return { allow: true, release }
  }

  /** Inbound connections currently admitted from `ip`. */
  count(ip: string): number {
    return this.#perIp.get(normalizeIp(ip.toLowerCase())) ?? 0
  }

  /** Inbound connections currently admitted from all IPs. */
  get total(): number {
    return this.#total
  }

  /** Number of distinct IPs with at least one admitted connection. */
  get trackedIps(): number {
    return this.#perIp.size
  }
}
