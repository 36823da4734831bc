/**
 * `@crust/discovery-beacon`: LAN discovery for Crust by signed UDP beacons
 * (broadcast, IPv4 and IPv6 multicast), feeding discovered peers into the
 * node's connection manager.
 *
 * @example
 * ```ts
 * import { createNode } from '@crust/core'
 * import { tcp } from '@crust/transport-tcp'
 * import { beacon } from '@crust/discovery-beacon'
 *
 * const node = await createNode({
 *   networkName: 'my-app',
 *   transports: [tcp()],
 *   discovery: [beacon({ port: 5484, autoConnect: true })],
 * })
 * node.on('peer:discovered', ({ peerId, addresses, via }) => console.log(via, peerId, addresses))
 * await node.start()
 * ```
 * @packageDocumentation
 */
import type { DiscoveryFactory } from '@crust/core'
import { BeaconDiscovery } from './beacon-discovery.js'
import { type BeaconOptions, resolveOptions } from './options.js'

export { BeaconDiscovery, BEACON_VIA, type BeaconStats } from './beacon-discovery.js'
export {
  type BeaconOptions,
  type BeaconLimits,
  type ResolvedBeaconOptions,
  beaconOptionsSchema,
  resolveOptions,
  DEFAULT_PORT,
  DEFAULT_MULTICAST_GROUP,
  DEFAULT_MULTICAST_GROUP6,
} from './options.js'
export { BeaconDecodeError, BeaconEncodeError, type BeaconDecodeReason } from './errors.js'
export { encodeBeacon, decodeBeacon, BEACON_MAGIC, type DecodedBeacon } from './wire.js'
export {
  beaconSchema,
  beaconContentSchema,
  beaconAddressSchema,
  type Beacon,
  type BeaconContent,
  type BeaconType,
  BEACON_VERSION,
  MAX_BEACON_SIZE,
  MAX_ADDRESSES,
  MAX_ADDRESS_LENGTH,
  MAX_PUBLIC_KEY_LENGTH,
  MAX_SIGNATURE_LENGTH,
  NONCE_LENGTH,
} from './schema.js'
export { BeaconReceiver, DROP_REASONS, type DropReason, type Verdict, type ReceiverOptions } from './receiver.js'
export { KeyedRateLimiter } from './rate-limiter.js'
export { ReplayCache } from './replay-cache.js'
export { PeerTable, type PeerDecision } from './peer-table.js'
export {
  advertisedAddresses,
  resolveAdvertised,
  DEFAULT_ADDRESSES_PER_BEACON,
  type AddressScope,
  type OutgoingInterface,
  type ResolveOptions,
} from './addresses.js'
export {
  planSenders,
  planForSource,
  ALL_TARGETS,
  type BeaconTarget,
  type Destination,
  type SenderPlan,
  type Subnet,
  type TargetOptions,
} from './targets.js'

/**
 * The beacon discovery plugin: pass `beacon(options)` in the node's
 * `discovery`. Options are validated at once.
 *
 * @throws ConfigError on invalid options.
 */
export function beacon(options: BeaconOptions = {}): DiscoveryFactory {
  resolveOptions(options)
  return (components) => new BeaconDiscovery(components, options)
}
