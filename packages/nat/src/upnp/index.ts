import type { ServiceFactory } from '@crust/core'
import { type UpnpOptions, parseUpnpOptions } from './options.js'
import { UpnpService } from './service.js'

export { UpnpError, type UpnpFailure } from './errors.js'
export { UpnpService } from './service.js'
export type { UpnpOptions } from './options.js'

/**
 * The UPnP service plugin: maps the node's TCP and QUIC ports on the LAN's
 * UPnP gateway (IGD) and publishes the mapped addresses, e.g.
 * `services: [upnp({ leaseSeconds: 3600 })]`. Without a gateway, or when it
 * refuses, the node carries on without mappings (`natStatus(node.nat).upnp` says why).
 * Options are validated at once (a `ConfigError` names the field).
 */
export function upnp(options?: UpnpOptions): ServiceFactory {
  const resolved = parseUpnpOptions(options)
  return (components) => new UpnpService(components, resolved)
}
