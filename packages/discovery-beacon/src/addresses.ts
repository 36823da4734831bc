/**
 * Which addresses a beacon advertises (sender side) and which a receiver
 * keeps and dials (receiver side).
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import { formatAddress, parseAddress } from '@crust/core'
import { bareIp, isGroupIp, isLinkLocalV6, isLoopbackIp, isUnspecifiedIp, zoneOf } from './ip.js'

/** The interface a beacon goes out on, as address selection needs it. */
export interface OutgoingInterface {
  /** Addresses of the interface (both families), bare IPs. */
  readonly addresses: readonly string[]
  /** True for a loopback interface: the beacon only reaches this host. */
  readonly loopback: boolean
}

/**
 * The addresses to put in a beacon going out on `outgoing`, best first:
 *
 * - only `transport://ip:port` addresses with an IP literal host;
 * - a wildcard host (`0.0.0.0`, `::`) becomes the interface's addresses of that family;
 * - loopback addresses only on a loopback interface (other hosts cannot use them);
 * - link-local IPv6 never (the zone id is meaningless to the receiver; it uses the datagram's);
 * - multicast and broadcast never;
 * - duplicates removed; addresses of the outgoing interface first, the rest after in the node's order.
 */
export function advertisedAddresses(own: readonly string[], outgoing: OutgoingInterface): string[] {
  const onInterface = new Set(outgoing.addresses.map(bareIp))
  const usable = (ip: string): boolean =>
    !isGroupIp(ip) && !isUnspecifiedIp(ip) && !isLinkLocalV6(ip) && (outgoing.loopback || !isLoopbackIp(ip))
  const first: string[] = []
  const rest: string[] = []
  const seen = new Set<string>()
  for (const address of own) {
    const parsed = parseAddress(address)
    if (!parsed || isIP(parsed.host) === 0) continue
    const family = isIP(parsed.host)
    const hosts = isUnspecifiedIp(parsed.host) ? outgoing.addresses.filter((ip) => isIP(bareIp(ip)) === family) : [parsed.host]
    for (const host of hosts.map(bareIp)) {
      if (!usable(host)) continue
      const formatted = formatAddress(parsed.transport, host, parsed.port)
      if (seen.has(formatted)) continue
      seen.add(formatted)
      ;(onInterface.has(host) ? first : rest).push(formatted)
    }
  }
  return [...first, ...rest]
}

/**
 * The addresses to dial a peer at, from what its beacon advertised and the
 * datagram's source address (`source`, as `rinfo.address` gives it, zone
 * included for link-local IPv6). The rules:
 *
 * - a wildcard host (`0.0.0.0`, `::`) is replaced by the source IP: the peer
 *   listens on every interface, and the one the datagram came from reaches us.
 *   `0.0.0.0` only takes an IPv4 source; `::` takes either (dual-stack).
 * - a loopback host is kept only when the source is loopback (same host); it is
 *   never rewritten, since a peer listening on loopback only is unreachable
 *   from elsewhere, and dialling "127.0.0.1" for a remote peer would reach us.
 * - a link-local IPv6 host gets the zone of the source when the source is a
 *   zoned IPv6 address (the link the datagram arrived on), else it is dropped.
 * - multicast/broadcast hosts and `isBlockedIp` hosts are dropped;
 * - duplicates removed; addresses on the source IP first (known to reach us).
 */
export function resolveAdvertised(advertised: readonly string[], source: string, isBlockedIp: (ip: string) => boolean = () => false): string[] {
  const sourceIp = bareIp(source)
  const sourceFamily = isIP(sourceIp)
  const sourceZone = sourceFamily === 6 ? zoneOf(source) : undefined
  const sourceIsLoopback = isLoopbackIp(sourceIp)
  const first: string[] = []
  const rest: string[] = []
  const seen = new Set<string>()
  for (const address of advertised) {
    const parsed = parseAddress(address)
    if (!parsed) continue
    const family = isIP(bareIp(parsed.host))
    if (family === 0) continue
    let host = bareIp(parsed.host)
    if (isUnspecifiedIp(host)) {
      if (sourceFamily === 0 || (family === 4 && sourceFamily !== 4)) continue
      host = sourceZone ? `${sourceIp}%${sourceZone}` : sourceIp
    } else if (isLoopbackIp(host)) {
      if (!sourceIsLoopback) continue
    } else if (isLinkLocalV6(host)) {
      if (!sourceZone) continue
      host = `${host}%${sourceZone}`
    } else if (isGroupIp(host)) {
      continue
    }
    if (isBlockedIp(host)) continue
    const formatted = formatAddress(parsed.transport, host, parsed.port)
    if (seen.has(formatted)) continue
    seen.add(formatted)
    ;(bareIp(host) === sourceIp ? first : rest).push(formatted)
  }
  return [...first, ...rest]
}
