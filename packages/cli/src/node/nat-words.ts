/**
 * A node's NAT status (`natStatus(node.nat)` from `@crust/nat`) in plain words.
 *
 * @packageDocumentation
 */
import type { NatStatus, UpnpStatus } from '@crust/nat'

/** The NAT type from the mapping behaviour. */
export function describeMapping(mapping: NatStatus['mapping']): string {
  switch (mapping) {
    case 'none':
      return 'no NAT: the node has a public address'
    case 'endpoint-independent':
      return 'endpoint-independent mapping (a "cone" NAT): hole punching can work'
    case 'endpoint-dependent':
      return 'endpoint-dependent mapping (a symmetric NAT): peers behind NATs need a relay to reach this node'
    default:
      return 'unknown'
  }
}

/** The UPnP (or PCP / NAT-PMP: the same states) state in a few words. */
export function describeUpnp(upnp: UpnpStatus): string {
  switch (upnp.state) {
    case 'mapped': {
      const ports = upnp.mappings.map((m) => `${m.protocol} ${m.internalPort}→${m.externalPort}`).join(', ')
      return `gateway ${upnp.gateway ?? '?'} mapped ${ports || 'nothing yet'}${upnp.externalIp ? ` (external IP ${upnp.externalIp})` : ''}`
    }
    case 'unavailable':
      return `no gateway${upnp.reason ? `: ${upnp.reason}` : ''}`
    case 'refused':
      return `gateway ${upnp.gateway ?? '?'} refused to map${upnp.reason ? `: ${upnp.reason}` : ''}`
    default:
      return 'not looked for yet'
  }
}

/** One line for `crust start`: what the NAT services found so far. */
export function summariseNat(status: NatStatus, natServices: readonly string[]): string {
  if (natServices.length === 0) return 'not checked (no NAT services configured; see crust nat)'
  const parts: string[] = []
  if (status.reflexiveAddress) parts.push(`seen as ${status.reflexiveAddress}`)
  if (status.mapping !== 'unknown') parts.push(describeMapping(status.mapping).split(':')[0] ?? '')
  if (natServices.includes('upnp')) parts.push(`UPnP: ${describeUpnp(status.upnp)}`)
  if (natServices.includes('pcp')) parts.push(`${status.pcp.protocol === 'nat-pmp' ? 'NAT-PMP' : 'PCP'}: ${describeUpnp(status.pcp)}`)
  return parts.length > 0 ? parts.join('; ') : 'checking…'
}
