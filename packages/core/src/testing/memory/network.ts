import { formatAddress, parseAddress } from '../../transport/address.js'
import type { MemoryConnection } from './connection.js'
import type { PendingDial } from './transport.js'

/** The address scheme of the memory transport: `memory://<host>:<port>`, e.g. `memory://alice:1`. */
export const MEMORY_SCHEME = 'memory'

/** What happens to dials to one address (see {@link MemoryNetwork}). */
export type DialRule =
  /** Refused at once, like a closed port (`DialError`). */
  | { readonly kind: 'refuse' }
  /** Reaches the listener after `ms` (on the global timers, so fake timers control it). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Never answered: the dial waits for its handshake timeout or its abort signal. */
  | { readonly kind: 'blackhole' }

/** One dial the network saw. */
export interface DialRecord {
  /** The dialling transport's host. */
  readonly from: string
  /** The address dialled, as given. */
  readonly to: string
  /** `Date.now()` when the dial started (fake time under fake timers). */
  readonly at: number
}

/** @internal What the network needs from a listening memory transport. */
export interface MemoryListener {
  accept(attempt: PendingDial): void
}

/**
 * The shared in-process "network" of the memory transport: listeners by
 * address, the connections between them, and the faults a test injects.
 * Create one per test and give it to every node's {@link memoryTransport}, so
 * the nodes find each other by `memory://host:port` addresses.
 *
 * Fault injection, by the exact address dialled: {@link MemoryNetwork.refuse},
 * {@link MemoryNetwork.delay}, {@link MemoryNetwork.blackhole} (undone by
 * {@link MemoryNetwork.heal}); {@link MemoryNetwork.drop} cuts live
 * connections abruptly; {@link MemoryNetwork.dials} records every dial.
 */
export class MemoryNetwork {
  /** Every dial made on this network, in order (including refused and black-holed ones). */
  readonly dials: DialRecord[] = []
  private readonly listeners = new Map<string, MemoryListener>()
  private readonly rules = new Map<string, DialRule>()
  private readonly live = new Set<MemoryConnection>()
  private nextPort = 1
  private nextEphemeral = 40_000
  /** How many dials went to `address` (every dial when omitted). */
  dialCount(address?: string): number {
    return address === undefined ? this.dials.length : this.dials.filter((d) => d.to === address).length
  }

  /** Refuse every dial to `address` at once, as a closed port does. */
  refuse(address: string): void {
    this.rules.set(address, { kind: 'refuse' })
  }

  /** Let dials to `address` reach its listener only after `ms`. */
  delay(address: string, ms: number): void {
    this.rules.set(address, { kind: 'delay', ms })
  }

  /** Never answer dials to `address`: they end by their handshake timeout or abort signal. */
  blackhole(address: string): void {
    this.rules.set(address, { kind: 'blackhole' })
  }

  /** Remove the rule for `address` (every rule when omitted). Dials already under a rule keep it. */
  heal(address?: string): void {
    if (address === undefined) this.rules.clear()
    else this.rules.delete(address)
  }

  /**
   * Cut live connections abruptly, as a lost link would: both ends close at
   * once with `INTERNAL` (remote, with an error), no close reason from either
   * application. With `where`, only connections whose either end has that
   * address or that peer id. Returns how many were cut.
   */
  drop(where?: string): number {
    let count = 0
    for (const connection of [...this.live]) {
      const ends = [connection.localAddress, connection.remoteAddress, connection.remotePeer.peerId]
      if (where !== undefined && !ends.includes(where)) continue
      connection.drop()
      count++
    }
    return count
  }

  /** Live connections (each once, by its dialling end). */
  connections(): readonly MemoryConnection[] {
    return [...this.live]
  }

  /** @internal Bind `listener` at `host:port` (port 0: a free one); returns the address. */
  bind(host: string, port: number, listener: MemoryListener): string {
    const chosen = port === 0 ? this.freePort(host) : port
    const address = formatAddress(MEMORY_SCHEME, host, chosen)
    if (this.listeners.has(address)) throw new Error(`${address} is already in use`)
    this.listeners.set(address, listener)
    return address
  }

  /** @internal */
  unbind(address: string): void {
    this.listeners.delete(address)
  }

  /** @internal An ephemeral port for a dialling end. */
  ephemeralPort(): number {
    return this.nextEphemeral++
  }

  /** @internal Record a dial and route it to its listener under the address's rule. */
  route(from: string, address: string, attempt: PendingDial, refused: (address: string) => Error): void {
    this.dials.push({ from, to: address, at: Date.now() })
    const deliver = (): void => {
      if (attempt.settled) return
      const listener = this.listeners.get(canonical(address))
      if (listener === undefined) attempt.refuse(refused(address))
      else listener.accept(attempt)
    }
    const rule = this.rules.get(address)
    if (rule?.kind === 'blackhole') return
    if (rule?.kind === 'refuse') queueMicrotask(() => attempt.refuse(refused(address)))
    else if (rule?.kind === 'delay') setTimeout(deliver, rule.ms)
    else queueMicrotask(deliver)
  }

  /** @internal Track a connection (by its dialling end) until it closes. */
  track(connection: MemoryConnection): void {
    this.live.add(connection)
    void connection.closed.then(() => this.live.delete(connection))
  }

  private freePort(host: string): number {
    for (;;) {
      const port = this.nextPort++
      if (!this.listeners.has(formatAddress(MEMORY_SCHEME, host, port))) return port
    }
  }
}

/** `address` in the one spelling listeners are registered under (no trailing slash, bracketed IPv6). */
function canonical(address: string): string {
  const parsed = parseAddress(address)
  return parsed === undefined ? address : formatAddress(parsed.transport, parsed.host, parsed.port)
}
