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

// The plugin, its options and typed errors: what an application uses. The
// wire format, receiver, rate limiter, replay cache, peer table and send
// planning are internal (tests import them from their modules).
export { BEACON_VIA, type BeaconDiscovery, type BeaconStats } from './beacon-discovery.js'
export { type BeaconOptions, type BeaconLimits, beaconOptionsSchema, DEFAULT_PORT } from './options.js'
export { BeaconDecodeError, BeaconEncodeError, type BeaconDecodeReason } from './errors.js'

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
