import { isIPv4 } from 'node:net'
import { parseAddress } from '@crust/core/plugin'

/** A listening port the gateway should forward to us. */
export interface MappingTarget {
  /** The node's transport: `tcp` maps a TCP port, `quic` a UDP port. */
  readonly transport: 'tcp' | 'quic'
  readonly protocol: 'tcp' | 'udp'
  /** The address the transport listens on. */
  readonly host: string
  readonly port: number
}

/** TCP and QUIC listening addresses on IPv4 (UPnP IGD maps IPv4 only). */
export function mappableAddresses(listenAddresses: readonly string[]): MappingTarget[] {
  const found: MappingTarget[] = []
  for (const address of listenAddresses) {
    const parsed = parseAddress(address)
    if (parsed === undefined || !isIPv4(parsed.host) || parsed.port === 0) continue
    if (parsed.transport === 'tcp') found.push({ transport: 'tcp', protocol: 'tcp', host: parsed.host, port: parsed.port })
    if (parsed.transport === 'quic') found.push({ transport: 'quic', protocol: 'udp', host: parsed.host, port: parsed.port })
  }
  return found
}

/**
 * What to map through a gateway we reach from `localAddress`: each listening
 * port bound there (a wildcard bind lists every interface address), once per
 * protocol. Ports bound only elsewhere, loopback for instance, are out of the
 * gateway's reach.
 */
export function mappingTargets(listenAddresses: readonly string[], localAddress: string): MappingTarget[] {
  const seen = new Set<string>()
  return mappableAddresses(listenAddresses).filter((target) => {
    const key = `${target.protocol}/${target.port}`
    if (target.host !== localAddress || seen.has(key)) return false
    seen.add(key)
    return true
  })
}
