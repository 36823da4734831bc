/**
 * The checks every received datagram goes through, cheapest first, so that
 * junk costs little and only genuine beacons reach the signature check's
 * cost or the replay cache's memory.
 *
 * @packageDocumentation
 */
import type { DiscoveryIdentity } from '@crust/core'
import { TokenBucket, isLoopback } from '@crust/core/plugin'
import { BeaconDecodeError } from './errors.js'
import { bareIp } from './ip.js'
import { KeyedRateLimiter } from './rate-limiter.js'
import { ReplayCache } from './replay-cache.js'
import { type DecodedBeacon, decodeBeacon } from './wire.js'

/** Why a datagram was dropped. */
export type DropReason =
  /** Over the size limit (checked before anything else). */
  | 'oversized'
  /** Loopback mode, and the datagram came from another host. */
  | 'foreign'
  /** Its source IP is over its rate. */
  | 'rate-limited'
  /** Source IP or peer id is blacklisted. */
  | 'blacklisted'
  /** Not a well-formed beacon (decode or schema error). */
  | 'malformed'
  /** Another network's beacon. */
  | 'network'
  /** Our own beacon, looped back. */
  | 'self'
  /** Timestamp outside the replay window. */
  | 'stale'
  /** Nonce already seen: a replay, or another copy of a beacon sent to several destinations. */
  | 'replay'
  /** Too many signature checks this second. */
  | 'busy'
  /** Bad signature, or the key does not belong to the peer id. */
  | 'signature'
  /** Valid, but its source IP announced too many new peers lately (`limits.newPeersPerSource*`). */
  | 'peer-rate'

/** Every drop reason, e.g. to initialise counters. */
export const DROP_REASONS: readonly DropReason[] = [
  'oversized',
  'foreign',
  'rate-limited',
  'blacklisted',
  'malformed',
  'network',
  'self',
  'stale',
  'replay',
  'busy',
  'signature',
  'peer-rate',
]

/** The outcome of checking one datagram. */
export type Verdict = { readonly ok: true; readonly beacon: DecodedBeacon } | { readonly ok: false; readonly reason: DropReason }

/** What the receiver needs. */
export interface ReceiverOptions {
  readonly identity: Pick<DiscoveryIdentity, 'peerId' | 'verify'>
  /** Our network hash (hex); beacons of other networks are dropped. */
  readonly networkHash: string
  isBlacklisted(peer: { peerId?: string; ip?: string }): boolean
  readonly maxSize: number
  /** Accept only datagrams from loopback sources. */
  readonly loopbackOnly: boolean
  readonly replayWindow: number
  readonly perSourceBurst: number
  readonly perSourceRate: number
  readonly maxSources: number
  readonly verifyRate: number
  readonly replayCacheSize: number
  /** Clock in ms (default `Date.now`). */
  readonly now?: () => number
}

/**
 * Checks datagrams in this order: size, source (loopback mode), per-source
 * rate, source blacklist, decoding and schema, network, own beacon, peer
 * blacklist, freshness, replay, global signature budget, signature. A nonce
 * is remembered only once the signature checked out, so forged beacons can
 * neither fill the replay cache nor evict genuine entries. Never throws.
 */
export class BeaconReceiver {
  /** Per-source token buckets (bounded by `maxSources`). */
  readonly sources: KeyedRateLimiter
  /** Nonces of accepted beacons (bounded by `replayCacheSize`). */
  readonly replay: ReplayCache
  private readonly verifications: TokenBucket

  constructor(private readonly options: ReceiverOptions) {
    const now = options.now ?? Date.now
    this.sources = new KeyedRateLimiter({ burst: options.perSourceBurst, perSecond: options.perSourceRate }, options.maxSources, now)
    this.replay = new ReplayCache(options.replayWindow, options.replayCacheSize, now)
    this.verifications = new TokenBucket({ burst: options.verifyRate, perSecond: options.verifyRate }, now)
  }

  /** Check one datagram from `source` (an IP, as `rinfo.address` gives it). */
  check(datagram: Uint8Array, source: string): Verdict {
    const { options } = this
    if (datagram.length > options.maxSize) return drop('oversized')
    const ip = bareIp(source)
    if (options.loopbackOnly && !isLoopback(ip)) return drop('foreign')
    if (!this.sources.take(ip)) return drop('rate-limited')
    if (options.isBlacklisted({ ip })) return drop('blacklisted')
    let beacon: DecodedBeacon
    try {
      beacon = decodeBeacon(datagram, options.maxSize)
    } catch (error) {
      if (error instanceof BeaconDecodeError) return drop('malformed')
      throw error
    }
    if (beacon.networkHash !== options.networkHash) return drop('network')
    if (beacon.peerId === options.identity.peerId) return drop('self')
    if (options.isBlacklisted({ peerId: beacon.peerId })) return drop('blacklisted')
    if (!this.replay.isFresh(beacon.timestamp)) return drop('stale')
    if (this.replay.has(beacon.nonce)) return drop('replay')
    if (!this.verifications.take()) return drop('busy')
    if (!options.identity.verify(beacon.peerId, beacon.publicKey, beacon.signed, beacon.signature)) return drop('signature')
    this.replay.add(beacon.nonce, beacon.timestamp)
    return { ok: true, beacon }
  }

  /** Forget all state (at stop). */
  clear(): void {
    this.sources.clear()
    this.replay.clear()
  }
}

function drop(reason: DropReason): Verdict {
  return { ok: false, reason }
}
