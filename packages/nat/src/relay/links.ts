import type { ServiceConnection, ServiceComponents } from '@crust/core'
import { errorMessage } from '@crust/core/plugin'

/** A relay this node keeps a connection to, so peers can reach it through that relay. */
export interface RelayContact {
  readonly peerId: string
  readonly addresses: readonly string[]
}

/** How a lost relay connection is re-made. */
export interface ReconnectPolicy {
  readonly initialDelay: number
  readonly maxDelay: number
  /** Attempts per loss; the count starts again once connected. */
  readonly maxAttempts: number
}

/**
 * Keeps this node connected to its configured relays: a node behind NAT is
 * reachable through a relay only while it holds a connection to it. A lost
 * connection is re-dialled with exponential backoff, a bounded number of
 * times per loss, then given up (with a notice).
 */
export class RelayLinks {
  private readonly controller = new AbortController()
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(
    private readonly components: ServiceComponents,
    private readonly contacts: readonly RelayContact[],
    private readonly policy: ReconnectPolicy,
    private readonly notify: (type: string, message: string, peerId: string) => void,
  ) {}

  start(): void {
    for (const contact of this.contacts) void this.keep(contact, 0)
  }

  stop(): void {
    this.controller.abort()
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  private async keep(contact: RelayContact, attempt: number): Promise<void> {
    const signal = this.controller.signal
    if (signal.aborted) return
    let connection = this.current(contact.peerId)
    if (connection === undefined) {
      try {
        connection = await this.dial(contact)
      } catch (error) {
        if (signal.aborted) return
        if (attempt + 1 >= this.policy.maxAttempts) {
          const why = errorMessage(error)
          this.notify('relay:unreachable', `gave up on relay ${contact.peerId} after ${attempt + 1} attempts: ${why}`, contact.peerId)
          return
        }
        const delay = Math.min(this.policy.maxDelay, this.policy.initialDelay * 2 ** attempt)
        this.later(() => void this.keep(contact, attempt + 1), delay)
        return
      }
    }
    await connection.closed
    // The pool may already hold another connection to it (a simultaneous open): keep watching that one.
    this.later(() => void this.keep(contact, 0), this.current(contact.peerId) === undefined ? this.policy.initialDelay : 0)
  }

  /** The pooled direct connection to the relay, if any (a relay reached through a relay is no use). */
  private current(peerId: string): ServiceConnection | undefined {
    const connection = this.components.connection(peerId)
    return connection?.method === 'relayed' ? undefined : connection
  }

  private async dial(contact: RelayContact): Promise<ServiceConnection> {
    let last: unknown = new Error('the relay contact has no addresses')
    for (const address of contact.addresses) {
      try {
        return await this.components.dial(address, { peerId: contact.peerId, signal: this.controller.signal })
      } catch (error) {
        last = error
        if (this.controller.signal.aborted) break
      }
    }
    throw last
  }

  private later(run: () => void, delay: number): void {
    if (this.controller.signal.aborted) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      run()
    }, delay)
    timer.unref()
    this.timers.add(timer)
  }
}
