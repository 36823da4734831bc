import { ReachabilityError } from '../errors.js'
import { RaceFailedError, raceStaggered } from './race.js'

/** How many verified peers are remembered, so repeated connections are not probed again. */
const VERIFIED_LIMIT = 1024
/** How long a successful check is trusted. */
const VERIFIED_TTL_MS = 10 * 60 * 1000

/**
 * Reverse-connectivity check: dial back to the addresses a peer claims (a
 * fresh connection that is never pooled) and see whether the peer answers
 * there with the same identity. Successes are remembered for a while.
 */
export class ReachabilityChecker {
  /** peerId → until when the check is trusted, and the address that answered. */
  private readonly verified = new Map<string, { readonly until: number; readonly address: string }>()

  constructor(
    /** Dial `address`, authenticate it as `peerId`, handshake as a probe and close. */
    private readonly probe: (address: string, peerId: string, signal: AbortSignal) => Promise<void>,
    private readonly options: { readonly timeout: number; readonly maxAddresses: number },
  ) {}

  /**
   * Resolves with the address the peer answered at, one of `addresses` (or
   * the one remembered from a recent check); rejects with `ReachabilityError`
   * otherwise.
   */
  async check(peerId: string, addresses: readonly string[]): Promise<string> {
    const known = this.verified.get(peerId)
    if (known !== undefined && known.until > Date.now()) return known.address
    const candidates = addresses.slice(0, this.options.maxAddresses)
    if (candidates.length === 0) throw new ReachabilityError(`peer ${peerId} claims the node role but gave no address`)
    const signal = AbortSignal.timeout(this.options.timeout)
    let address: string
    try {
      address = await raceStaggered(candidates, (candidate, s) => this.probe(candidate, peerId, AbortSignal.any([s, signal])).then(() => candidate), {
        staggerMs: 0,
        signal,
        dispose: () => {},
      })
    } catch (error) {
      const reasons =
        error instanceof RaceFailedError
          ? (error as RaceFailedError<string>).failures.map((f) => `${f.candidate}: ${f.error.message}`).join('; ')
          : `no answer within ${this.options.timeout} ms`
      throw new ReachabilityError(`peer ${peerId} is not reachable at its claimed addresses (${reasons})`)
    }
    this.verified.delete(peerId)
    this.verified.set(peerId, { until: Date.now() + VERIFIED_TTL_MS, address })
    if (this.verified.size > VERIFIED_LIMIT) this.verified.delete(this.verified.keys().next().value as string)
    return address
  }

  /** The address `peerId` last answered a dial-back at, while that check is trusted. */
  verifiedAddress(peerId: string): string | undefined {
    const known = this.verified.get(peerId)
    return known !== undefined && known.until > Date.now() ? known.address : undefined
  }
}
