import { type ServiceConnection, type ServiceComponents, isReachable } from '@crust/core'
import { errorMessage, isGlobalAddress } from '@crust/core/plugin'
import type { ResolvedRelayOptions } from './options.js'
import { RELAY_PRIORITY } from './priority.js'
import { upgradeOrder } from './reversal.js'

/** Claimed addresses tried per attempt, at most (a peer may claim many). */
const MAX_ADDRESSES_PER_ATTEMPT = 4
/** One upgrade attempt (direct dials and hole punching together) gives up after this long. */
const ATTEMPT_TIMEOUT_MS = 6_000

/**
 * Tries to replace relayed connections by direct ones: a bounded series of
 * direct dials to the addresses the peer claimed in its handshake. A
 * successful dial is pooled by the core, whose tie-break keeps the direct
 * connection and retires the relayed one; nothing else is needed here.
 */
export class Upgrader {
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly controller = new AbortController()

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedRelayOptions['upgrade'],
    private readonly notify: (type: string, message: string, peerId: string) => void,
  ) {}

  /**
   * Start upgrade attempts for the relayed connection to `peerId` (no-op if
   * already planned or disabled). Both ends run this. An end that cannot be
   * dialled tries at once when the peer claims an address dialable from
   * anywhere (connection reversal, see {@link upgradeOrder}), and that peer
   * waits its turn; otherwise the end with the higher peer id goes first,
   * the other one `delay` later, so that when both can dial, one direct
   * connection forms instead of two racing ones (whose tie-break would close
   * one of them under calls already using it).
   */
  schedule(peerId: string): void {
    if (this.options === false || this.controller.signal.aborted || this.timers.has(peerId)) return
    // Called once the relayed connection is pooled; gone already: nothing to upgrade.
    const current = this.components.connection(peerId)
    if (current === undefined) return
    const order = upgradeOrder({
      ownPeerId: this.components.peerId,
      peerId,
      ownReachable: isReachable(this.components.traversal()),
      claimed: this.components.claimedAddresses(current),
    })
    if (order === 'reverse') {
      this.at(peerId, 0, () => void this.attempt(peerId, 0, true))
      return
    }
    this.plan(peerId, 0, order === 'first' ? 0 : this.options.delay)
  }

  /** Cancel every planned attempt and any dial in progress. */
  stop(): void {
    this.controller.abort()
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }

  private plan(peerId: string, attempt: number, offset = 0): void {
    if (this.options === false) return
    const delay = offset + this.options.delay * this.options.multiplier ** attempt
    this.at(peerId, delay, () => void this.attempt(peerId, attempt))
  }

  /** Run `work` for `peerId` after `delay` ms; the timer marks the peer as planned. */
  private at(peerId: string, delay: number, work: () => void): void {
    const timer = setTimeout(work, Math.min(delay, 2 ** 31 - 1))
    timer.unref()
    this.timers.set(peerId, timer)
  }

  /**
   * One attempt of the series. A `reversal` (the first attempt of an end that
   * cannot be dialled) dials only the peer's addresses dialable from
   * anywhere: one round trip when the peer is reachable, and no hole punching
   * (birthday probing opens hundreds of sockets) for a path that a dial makes.
   */
  private async attempt(peerId: string, attempt: number, reversal = false): Promise<void> {
    if (this.options === false || this.controller.signal.aborted) return
    const current = this.components.connection(peerId)
    // Gone, or already direct (another dial or hole punching got there first).
    if (current === undefined || current.method !== 'relayed') {
      this.timers.delete(peerId)
      return
    }
    // Addresses dialable from anywhere (a mapping, a public interface) first: they are the ones that can work from here.
    const claimed = this.components.claimedAddresses(current)
    const global = claimed.filter(isGlobalAddress)
    const addresses = (reversal ? global : [...global, ...claimed.filter((address) => !isGlobalAddress(address))]).slice(0, MAX_ADDRESSES_PER_ATTEMPT)
    // Every claimed address and the better connectors (hole punching) at once, within one
    // bounded attempt: an address behind a NAT fails only at its dial timeout.
    const round = new AbortController()
    const stop = (): void => round.abort()
    this.controller.signal.addEventListener('abort', stop, { once: true })
    const timer = setTimeout(stop, ATTEMPT_TIMEOUT_MS)
    const errors: string[] = []
    const dial = (address: string): Promise<{ connection: ServiceConnection; via: string }> =>
      this.components.dial(address, { peerId, signal: round.signal }).then((connection) => ({ connection, via: address }))
    const tries: Array<Promise<{ connection: ServiceConnection; via: string }>> = [
      // A reversal dials the peer's addresses one after another (the next when one fails): two that both
      // connect would race, and cancelling the slower one may close the connection the peer already kept.
      ...(reversal ? [inTurn(addresses, dial, errors)] : addresses.map(dial)),
      ...(reversal
        ? []
        : [
            this.components
              .traverse(peerId, { belowPriority: RELAY_PRIORITY, signal: round.signal })
              .then((connection) => ({ connection, via: connection.method })),
          ]),
    ].map((attemptPromise) =>
      attemptPromise.catch((error: unknown) => {
        errors.push(errorMessage(error))
        throw error
      }),
    )
    try {
      const { connection, via } = await Promise.any(tries)
      if (connection.method === 'relayed') throw new Error('still relayed')
      this.timers.delete(peerId)
      this.notify('upgraded', `relayed connection to ${peerId} upgraded to ${connection.method} (${via})`, peerId)
      return
    } catch {
      if (this.controller.signal.aborted) return
    } finally {
      clearTimeout(timer)
      round.abort() // cancel the slower tries
      this.controller.signal.removeEventListener('abort', stop)
    }
    if (attempt + 1 < this.options.maxAttempts) {
      this.plan(peerId, attempt + 1)
      return
    }
    this.timers.delete(peerId)
    this.notify('upgrade:failed', `no direct path to ${peerId} after ${attempt + 1} attempts: ${errors.join('; ')}`, peerId)
  }
}

/** Try `addresses` in turn with `dial` until one connects; each failure but the last (rethrown) is noted in `errors`. */
async function inTurn<T>(addresses: readonly string[], dial: (address: string) => Promise<T>, errors: string[]): Promise<T> {
  let last: unknown = new Error('no address dialable from anywhere')
  for (const [index, address] of addresses.entries()) {
    try {
      return await dial(address)
    } catch (error) {
      last = error
      if (index < addresses.length - 1) errors.push(errorMessage(error))
    }
  }
  throw last
}
