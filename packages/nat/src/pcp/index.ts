import type { ServiceFactory } from '@crust/core'
import { type PcpOptions, parsePcpOptions } from './options.js'
import { PcpService } from './service.js'

export { PcpError, type PcpFailure } from './errors.js'
export { PcpService } from './service.js'
export type { PcpOptions } from './options.js'
export type { PortControlProtocol } from './client.js'

/**
 * The PCP / NAT-PMP service plugin: maps the node's TCP and QUIC ports on the
 * default gateway with PCP (RFC 6887), or NAT-PMP (RFC 6886) when that is all
 * it speaks, and publishes the mapped addresses (`conn.method` `pcp` or
 * `nat-pmp`), e.g. `services: [upnp(), pcp()]` to try both kinds of router at
 * once. It follows the gateway: a reboot (the epoch goes back) or a new
 * external address is re-mapped within `checkInterval`, and a gateway that
 * appears later is found (searched again with backoff). Without one the node
 * carries on (`natStatus(node.nat).pcp` says why). Options are validated at
 * once (a `ConfigError` names the field).
 */
export function pcp(options?: PcpOptions): ServiceFactory {
  const resolved = parsePcpOptions(options)
  return (components) => new PcpService(components, resolved)
}
