/**
 * Which addresses a beacon advertises (sender side) and which a receiver
 * keeps and dials (receiver side).
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import { formatAddress, isLoopback, isWildcard, parseAddress } from '@crust/core/plugin'
import { bareIp, inSubnet, isGroupIp, isLinkLocalV6, zoneOf } from './ip.js'

/** The interface a beacon goes out on, as address selection needs it. */
export interface OutgoingInterface {
  /** Addresses of the interface (both families), bare IPs. */
  readonly addresses: readonly string[]
  /** True for a loopback interface: the beacon only reaches this host. */
  readonly loopback: boolean
  /** Family of the sending socket, when known: an IPv6 sender also advertises the interface's link-local address. */
  readonly family?: 4 | 6
}

/**
 * The addresses to put in a beacon going out on `outgoing`, best first:
 *
 * - only `transport://ip:port` addresses with an IP literal host;
 * - a wildcard host (`0.0.0.0`, `::`) becomes the interface's addresses of that family;
 * - loopback addresses only on a loopback interface (other hosts cannot use them);
 * - link-local IPv6 only the outgoing interface's own (the receiver adds the zone of the link the
 *   beacon came in on; it is also the source of IPv6 multicast, so the only IPv6 address a receiver accepts);
 * - multicast and broadcast never;
 * - duplicates removed; addresses of the outgoing interface first, the rest after in the node's order.
 */
export function advertisedAddresses(own: readonly string[], outgoing: OutgoingInterface): string[] {
  const onInterface = new Set(outgoing.addresses.map(bareIp))
  const usable = (ip: string): boolean =>
    !isGroupIp(ip) && !isWildcard(ip) && (!isLinkLocalV6(ip) || onInterface.has(ip)) && (outgoing.loopback || !isLoopback(ip))
  const first: string[] = []
  const rest: string[] = []
  const seen = new Set<string>()
  for (const address of own) {
    const parsed = parseAddress(address)
    if (!parsed || isIP(parsed.host) === 0) continue
    const family = isIP(parsed.host)
    const hosts = isWildcard(parsed.host) ? outgoing.addresses.filter((ip) => isIP(bareIp(ip)) === family) : [parsed.host]
    for (const host of hosts.map(bareIp)) {
      if (!usable(host)) continue
      const formatted = formatAddress(parsed.transport, host, parsed.port)
      if (seen.has(formatted)) continue
      seen.add(formatted)
      ;(onInterface.has(host) ? first : rest).push(formatted)
    }
  }
  const extra = linkLocalOfWildcards(own, outgoing).filter((address) => !seen.has(address))
  return [...extra, ...first, ...rest]
}

/**
 * IPv6 beacons leave from the interface's link-local address, and receivers
 * only dial addresses on a beacon's source IP. The node's own addresses come
 * with wildcard binds already expanded, without link-local ones (useless
 * without a zone), so for each transport and port whose IPv6 addresses look
 * like an expanded `::` bind (`::1` and every non-link-local IPv6 address of
 * this interface), the interface's link-local address is advertised too.
 */
function linkLocalOfWildcards(own: readonly string[], outgoing: OutgoingInterface): string[] {
  if (outgoing.family !== 6 || outgoing.loopback) return []
  const linkLocal = outgoing.addresses.map(bareIp).filter(isLinkLocalV6)
  if (linkLocal.length === 0) return []
  const needed = ['::1', ...outgoing.addresses.map(bareIp).filter((ip) => isIP(ip) === 6 && !isLinkLocalV6(ip))]
  const hostsByListener = new Map<string, { transport: string; port: number; hosts: Set<string> }>()
  for (const address of own) {
    const parsed = parseAddress(address)
    if (!parsed || isIP(bareIp(parsed.host)) !== 6) continue
    const key = `${parsed.transport}|${parsed.port}`
    const entry = hostsByListener.get(key) ?? { transport: parsed.transport, port: parsed.port, hosts: new Set<string>() }
    entry.hosts.add(bareIp(parsed.host))
    hostsByListener.set(key, entry)
  }
  const out: string[] = []
  for (const { transport, port, hosts } of hostsByListener.values()) {
    if (!needed.every((ip) => hosts.has(ip))) continue
    for (const ip of linkLocal) out.push(formatAddress(transport, ip, port))
  }
  return out
}

/**
 * Which advertised hosts a beacon can vouch for, i.e. may lead to a dial:
 * `host` (default) only the datagram's source IP; `subnet` also hosts in the
 * source's /24 (IPv4) or /64 (IPv6). A signature only proves who sent a
 * beacon, not that the addresses it lists are the sender's: without this
 * rule, one beacon from a throw-away identity could aim the node's dials at
 * any third party.
 */
export type AddressScope = 'host' | 'subnet'

/** Options of {@link resolveAdvertised}. */
export interface ResolveOptions {
  /** Which hosts the source vouches for (default `host`). */
  readonly scope?: AddressScope
  /** Most addresses kept, at most one per transport (default 2). */
  readonly maxAddresses?: number
  /** Hosts never kept (the node's IP blacklist). */
  readonly isBlockedIp?: (ip: string) => boolean
}

/** Default of {@link ResolveOptions.maxAddresses}: one address per transport (TCP, QUIC). */
export const DEFAULT_ADDRESSES_PER_BEACON = 2

/**
 * The addresses to dial a peer at, from what its beacon advertised and the
 * datagram's source address (`source`, as `rinfo.address` gives it, zone
 * included for link-local IPv6). The rules:
 *
 * - a wildcard host (`0.0.0.0`, `::`) is replaced by the source IP: the peer
 *   listens on every interface, and the one the datagram came from reaches us.
 *   `0.0.0.0` only takes an IPv4 source; `::` takes either (dual-stack).
 * - a link-local IPv6 host gets the zone of the source when the source is a
 *   zoned IPv6 address (the link the datagram arrived on), else it is dropped.
 * - only hosts the source vouches for are kept (see {@link AddressScope}):
 *   by default the source IP itself, so a loopback address only from that
 *   same loopback source, and never a third party's address;
 * - multicast/broadcast hosts and `isBlockedIp` hosts are dropped;
 * - duplicates removed; addresses on the source IP first; then at most one
 *   per transport and `maxAddresses` in all, so one beacon leads to few dials.
 */
export function resolveAdvertised(advertised: readonly string[], source: string, options: ResolveOptions = {}): string[] {
  const { scope = 'host', maxAddresses = DEFAULT_ADDRESSES_PER_BEACON, isBlockedIp = () => false } = options
  const sourceIp = bareIp(source)
  const sourceFamily = isIP(sourceIp)
  if (sourceFamily === 0) return []
  const sourceZone = sourceFamily === 6 ? zoneOf(source) : undefined
  const vouched = (ip: string): boolean =>
    ip === sourceIp || (scope === 'subnet' && isIP(ip) === sourceFamily && inSubnet(ip, sourceIp, sourceFamily === 4 ? 24 : 64))
  const first: string[] = []
  const rest: string[] = []
  const seen = new Set<string>()
  for (const address of advertised) {
    const parsed = parseAddress(address)
    if (!parsed) continue
    const family = isIP(bareIp(parsed.host))
    if (family === 0) continue
    let host = bareIp(parsed.host)
    if (isWildcard(host)) {
      if (family === 4 && sourceFamily !== 4) continue
      host = sourceIp
    }
    if (isGroupIp(host) || !vouched(host)) continue
    if (isLinkLocalV6(host)) {
      if (!sourceZone) continue
      host = `${host}%${sourceZone}`
    }
    if (isBlockedIp(host)) continue
    const formatted = formatAddress(parsed.transport, host, parsed.port)
    if (seen.has(formatted)) continue
    seen.add(formatted)
    ;(bareIp(host) === sourceIp ? first : rest).push(formatted)
  }
  const kept: string[] = []
  const transports = new Set<string>()
  for (const address of [...first, ...rest]) {
    if (kept.length >= maxAddresses) break
    const transport = parseAddress(address)?.transport ?? ''
    if (transports.has(transport)) continue
    transports.add(transport)
    kept.push(address)
  }
  return kept
}
