/**
 * The discovery plugin contract. A discovery plugin finds peers (LAN beacons,
 * DHTs, rendezvous servers...) and reports them to the core, which emits
 * `peer:discovered` and, when the plugin asks, connects while respecting the
 * node's limits and blacklist.
 *
 * @packageDocumentation
 */
import type { Logger } from '../logger.js'

/** A peer a discovery plugin found. */
export interface DiscoveredPeer {
  readonly peerId: string
  /** Transport addresses, e.g. `tcp://192.168.1.7:4001`. */
  readonly addresses: readonly string[]
  /** Which plugin found it, e.g. `beacon`. */
  readonly via: string
  /**
   * What the peer says about being dialable from anywhere (a port mapping,
   * a public address), e.g. from its signed record's NAT hints; absent when
   * the plugin does not know. Only a hint: it orders the dials auto-connect
   * makes anyway (the unreachable side of a pair dials the reachable one
   * first, see `dialOrder`), it never adds one.
   */
  readonly reachable?: boolean
}

/** The node's identity as discovery plugins may use it: to sign what they announce and check what they hear. */
export interface DiscoveryIdentity {
  readonly peerId: string
  /** Our public key, SPKI DER, to put in announcements so receivers can check signatures and peer ids. */
  readonly publicKey: Uint8Array
  /** Sign `data` with the node's private key. */
  sign(data: Uint8Array): Uint8Array
  /**
   * Check that `signature` over `data` was made by `publicKey` (SPKI DER) and
   * that the key belongs to `peerId`. Never throws: false on any doubt.
   */
  verify(peerId: string, publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean
}

/** What a discovery factory receives from the node. */
export interface DiscoveryComponents {
  readonly identity: DiscoveryIdentity
  /** SHA-256 hex of the network name: announce it, and ignore peers of other networks. */
  readonly networkHash: string
  readonly logger: Logger
  /** The addresses peers can dial us at right now. */
  addresses(): string[]
  /** True when the peer or address is blacklisted: ignore it. */
  isBlacklisted(peer: { peerId?: string; ip?: string }): boolean
  /** Report a discovered peer (emits `peer:discovered`). */
  peerDiscovered(peer: DiscoveredPeer): void
  /** Ask the core to connect (no-op when connected; limits and blacklist apply; failures are logged, never thrown). */
  connect(peer: DiscoveredPeer): Promise<void>
}

/** A discovery plugin instance. */
export interface Discovery {
  readonly id: string
  /** Start discovering; called after the transports listen. */
  start(): Promise<void>
  /** Stop; called before connections close. */
  stop(): Promise<void>
}

/** A discovery plugin as users pass it in config: `beacon(options)` returns one. */
export type DiscoveryFactory = (components: DiscoveryComponents) => Discovery
