/**
 * Admission control for inbound connections by remote address, applied before
 * any TLS work so that one host, one IPv6 /64 or one IPv4 /24 cannot exhaust
 * the node's connection slots, and a burst of half-open handshakes cannot
 * pile up.
 *
 * @packageDocumentation
 */
import { CloseCode } from '../transport/types.js'
import { type IpPrefixes, ipGroup } from './ip-group.js'

/** Options for {@link InboundLimiter}. */
export interface InboundLimiterOptions {
  /** Most inbound connections (admitted and not yet released) from one address group (see `addressPrefixes`). */
  readonly maxInboundPerIp: number
  /** What counts as one address: IPv4 /32 and IPv6 /64 by default (one host, one customer LAN). */
  readonly addressPrefixes: IpPrefixes
  /** Most inbound connections from one subnet (see `subnetPrefixes`); larger than `maxInboundPerIp`. */
  readonly maxInboundPerSubnet: number
  /** What counts as one subnet: IPv4 /24 and IPv6 /48 by default. */
  readonly subnetPrefixes: IpPrefixes
  /** Most inbound connections admitted but not yet established (TLS and HELLO still running). */
  readonly maxPendingInbound: number
  /** Inbound connections admitted and not yet established, as the caller counts them. */
  readonly countPendingInbound: () => number
  /** Whether the node can take one more connection (it has a free slot or can prune one). */
  readonly hasRoom: () => boolean
  /** What `hasRoom` reports when false, for the refusal's reason. */
  readonly describeFull: () => string
}

/**
 * The limiter's answer. A refusal carries `code` (`CloseCode.LIMIT_REACHED`)
 * so it can be returned as a transport `GateDecision` unchanged.
 */
export type AdmitDecision =
  | { readonly allow: true; readonly release: () => void }
  | { readonly allow: false; readonly code: number; readonly reason: string; readonly limit: string }

/**
 * Counts inbound connections per address group and per subnet. Each admitted
 * connection holds a slot in both until its `release` is called (when the
 * connection or attempt ends). IPv4-mapped IPv6 addresses count as IPv4.
 */
export class InboundLimiter {
  readonly #options: InboundLimiterOptions
  /** Only groups with a non-zero count are kept, so memory follows live connections. */
  readonly #perAddress = new Map<string, number>()
  readonly #perSubnet = new Map<string, number>()
  #total = 0

  /** @throws RangeError when a limit is not a positive integer. */
  constructor(options: InboundLimiterOptions) {
    for (const key of ['maxInboundPerIp', 'maxInboundPerSubnet', 'maxPendingInbound'] as const) {
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
    const o = this.#options
    if (o.countPendingInbound() >= o.maxPendingInbound) {
      return refuse(`too many inbound handshakes in progress (limit ${o.maxPendingInbound})`, 'connection.maxPendingInbound')
    }
    if (!o.hasRoom()) return refuse(o.describeFull(), 'connection.maxConnections')
    const address = ipGroup(ip, o.addressPrefixes)
    const subnet = ipGroup(ip, o.subnetPrefixes)
    if ((this.#perAddress.get(address) ?? 0) >= o.maxInboundPerIp) {
      return refuse(`too many inbound connections from ${address} (limit ${o.maxInboundPerIp})`, 'connection.maxInboundPerIp')
    }
    if ((this.#perSubnet.get(subnet) ?? 0) >= o.maxInboundPerSubnet) {
      return refuse(`too many inbound connections from subnet ${subnet} (limit ${o.maxInboundPerSubnet})`, 'connection.maxInboundPerSubnet')
    }
    increment(this.#perAddress, address)
    increment(this.#perSubnet, subnet)
    this.#total++
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.#total--
      decrement(this.#perAddress, address)
      decrement(this.#perSubnet, subnet)
    }
    return { allow: true, release }
  }

  /** Inbound connections currently admitted from the address group of `ip`. */
  count(ip: string): number {
    return this.#perAddress.get(ipGroup(ip, this.#options.addressPrefixes)) ?? 0
  }

  /** Inbound connections currently admitted from the subnet of `ip`. */
  countSubnet(ip: string): number {
    return this.#perSubnet.get(ipGroup(ip, this.#options.subnetPrefixes)) ?? 0
  }

  /** Inbound connections currently admitted from all addresses. */
  get total(): number {
    return this.#total
  }

  /** Number of distinct address groups with at least one admitted connection. */
  get trackedIps(): number {
    return this.#perAddress.size
  }
}

/** A refusal at `limit` (the config name of the bound that refused). */
function refuse(reason: string, limit: string): AdmitDecision {
  return { allow: false, code: CloseCode.LIMIT_REACHED, reason, limit }
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

function decrement(counts: Map<string, number>, key: string): void {
  const remaining = (counts.get(key) ?? 1) - 1
  if (remaining <= 0) counts.delete(key)
  else counts.set(key, remaining)
}
