import { ReachabilityError } from '../errors.js'
import { normalizeIp, parseAddress } from '../transport/address.js'
import { RaceFailedError, raceStaggered } from './race.js'
import { TokenBucket } from '../limits/token-bucket.js'

/** How many peers' outcomes are remembered, so repeated connections are not probed again. */
const REMEMBERED_LIMIT = 1024
/** How long a successful check is trusted. */
const VERIFIED_TTL_MS = 10 * 60 * 1000

/** Options of {@link ReachabilityChecker}. */
export interface ReachabilityOptions {
  /** Give up dialling back after this long (ms). */
  readonly timeout: number
  /** Dial back at most this many addresses per check. */
  readonly maxAddresses: number
  /** Check one peer at most once per this many ms; a failure is remembered this long. */
  readonly period: number
  /** Most checks started per second, node-wide. */
  readonly maxPerSecond: number
}

/** A remembered check: the address that answered, or the error. */
type Outcome = { readonly until: number } & ({ readonly address: string } | { readonly error: ReachabilityError })

/**
 * Reverse-connectivity check: dial back to the addresses a peer claims (a
 * fresh connection that is never pooled) and see whether the peer answers
 * there with the same identity.
 *
 * A dial-back is work a remote peer makes us do toward addresses it names, so
 * it is budgeted: only addresses on the IP the peer connected from are dialled
 * (anything else proves nothing and would let a peer aim our dials at a third
 * party), one peer is checked at most once per `period` (failures are
 * remembered too), and at most `maxPerSecond` checks start node-wide.
 */
export class ReachabilityChecker {
  private readonly outcomes = new Map<string, Outcome>()
  private readonly inFlight = new Map<string, Promise<string>>()
  private readonly budget: TokenBucket

  constructor(
    /** Dial `address`, authenticate it as `peerId`, handshake as a probe and close. */
    private readonly probe: (address: string, peerId: string, signal: AbortSignal) => Promise<void>,
    private readonly options: ReachabilityOptions,
  ) {
    this.budget = new TokenBucket({ perSecond: options.maxPerSecond, burst: Math.max(1, Math.ceil(options.maxPerSecond * 2)) })
  }

  /**
   * Resolves with the address the peer answered at, one of `addresses` (or
   * the one remembered from a recent check); rejects with `ReachabilityError`
   * otherwise (or when the budget is spent). With `observedIp` (the IP a peer
   * connected from), only addresses on that IP are dialled.
   */
  check(peerId: string, addresses: readonly string[], observedIp?: string): Promise<string> {
    const known = this.outcomes.get(peerId)
    if (known !== undefined && known.until > Date.now()) {
      return 'address' in known ? Promise.resolve(known.address) : Promise.reject(known.error)
    }
    const running = this.inFlight.get(peerId)
    if (running !== undefined) return running
    const candidates = (observedIp === undefined ? addresses : onIp(addresses, observedIp)).slice(0, this.options.maxAddresses)
    if (candidates.length === 0) {
      const reason =
        addresses.length === 0 || observedIp === undefined
          ? 'gave no address'
          : observedIp === ''
            ? 'reached us without an IP address to check its claim against (e.g. through a relay)'
            : `gave no address on ${normalizeIp(observedIp)}, the IP it connected from`
      return Promise.reject(this.remember(peerId, new ReachabilityError(`peer ${peerId} claims the node role but ${reason}`)))
    }
    if (!this.budget.take()) {
      // Not remembered: the peer did nothing wrong, the node is busy.
      return Promise.reject(new ReachabilityError(`peer ${peerId} not checked: the dial-back budget (${this.options.maxPerSecond}/s) is spent`))
    }
    const check = this.dialBack(peerId, candidates).finally(() => this.inFlight.delete(peerId))
    this.inFlight.set(peerId, check)
    return check
  }

  private async dialBack(peerId: string, candidates: readonly string[]): Promise<string> {
    const signal = AbortSignal.timeout(this.options.timeout)
    let address: string
    try {
      const probe = (candidate: string, s: AbortSignal): Promise<string> =>
        this.probe(candidate, peerId, AbortSignal.any([s, signal])).then(() => candidate)
      address = await raceStaggered(candidates, probe, {
        staggerMs: 0,
        signal,
        dispose: () => {},
      })
    } catch (error) {
      const reasons =
        error instanceof RaceFailedError
          ? (error as RaceFailedError<string>).failures.map((f) => `${f.candidate}: ${f.error.message}`).join('; ')
          : `no answer within ${this.options.timeout} ms`
      throw this.remember(peerId, new ReachabilityError(`peer ${peerId} is not reachable at its claimed addresses (${reasons})`))
    }
    this.remember(peerId, address)
    return address
  }

  /** The address `peerId` last answered a dial-back at, while that check is trusted. */
  verifiedAddress(peerId: string): string | undefined {
    const known = this.outcomes.get(peerId)
    return known !== undefined && known.until > Date.now() && 'address' in known ? known.address : undefined
  }

  /** Record an outcome: the address that answered, or the error (returned, to be thrown). */
  private remember<T extends string | ReachabilityError>(peerId: string, outcome: T): T {
    const failed = outcome instanceof ReachabilityError
    const until = Date.now() + (failed ? this.options.period : VERIFIED_TTL_MS)
    this.outcomes.delete(peerId)
    this.outcomes.set(peerId, failed ? { until, error: outcome } : { until, address: outcome as string })
    if (this.outcomes.size > REMEMBERED_LIMIT) this.outcomes.delete(this.outcomes.keys().next().value as string)
    return outcome
  }
}

/** The addresses whose host is `ip` (IPv4-mapped forms compare equal). */
function onIp(addresses: readonly string[], ip: string): string[] {
  const observed = normalizeIp(ip.toLowerCase())
  return addresses.filter((address) => {
    const host = parseAddress(address)?.host
    return host !== undefined && normalizeIp(host.toLowerCase()) === observed
  })
}
