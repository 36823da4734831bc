import { BlockList, isIP } from 'node:net'
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os'
import type { DatagramPeer, ServiceComponents } from '@crust/core'
import { formatAddress, isLoopback, isWildcard, normalizeIp, parseAddress } from '@crust/core/plugin'
import { type NatStatus, natStatus } from '../status.js'

/** Most candidates one side may offer. */
export const MAX_CANDIDATES = 8

/** Why a candidate address was not used. */
export type CandidateRejection =
  | 'not-quic'
  | 'not-ip-literal'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'loopback'
  | 'link-local'
  | 'too-many'

/** Ranges no punch packet should ever be sent to. */
const never = new BlockList()
never.addSubnet('0.0.0.0', 8, 'ipv4')
never.addSubnet('224.0.0.0', 4, 'ipv4')
never.addSubnet('240.0.0.0', 4, 'ipv4')
never.addSubnet('ff00::', 8, 'ipv6')
never.addAddress('::', 'ipv6')

function rejection(host: string, allowLoopback: boolean): CandidateRejection | undefined {
  const family = isIP(host)
  if (family === 0) return 'not-ip-literal'
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (isWildcard(host)) return 'unspecified'
  if (host === '255.255.255.255') return 'broadcast'
  if (isLoopback(host)) return allowLoopback ? undefined : 'loopback'
  if (family === 6 && /^fe[89ab]/i.test(host)) return 'link-local'
  if (never.check(host, type)) return host.startsWith('0.') ? 'unspecified' : 'multicast'
  return undefined
}

/**
 * Check the candidates a remote side offered: QUIC addresses with IP
 * literals only, never unspecified, multicast, broadcast or link-local (and
 * loopback only when allowed), at most {@link MAX_CANDIDATES}. Punch packets
 * go only to what survives, so a forged offer cannot aim them anywhere odd.
 */
export function screenCandidates(
  offered: readonly string[],
  options: { readonly allowLoopback: boolean },
): { targets: DatagramPeer[]; rejected: Array<{ address: string; reason: CandidateRejection }> } {
  const targets: DatagramPeer[] = []
  const rejected: Array<{ address: string; reason: CandidateRejection }> = []
  const seen = new Set<string>()
  for (const address of offered) {
    const parsed = parseAddress(address)
    if (parsed?.transport !== 'quic') {
      rejected.push({ address, reason: 'not-quic' })
      continue
    }
    const host = normalizeIp(parsed.host)
    const reason = rejection(host, options.allowLoopback)
    if (reason !== undefined) {
      rejected.push({ address, reason })
      continue
    }
    const key = `${host}:${parsed.port}`
    if (seen.has(key)) continue
    if (targets.length >= MAX_CANDIDATES) {
      rejected.push({ address, reason: 'too-many' })
      continue
    }
    seen.add(key)
    targets.push({ host, port: parsed.port })
  }
  return { targets, rejected }
}

/**
 * Where this node can be reached for punching, best first: the STUN
 * reflexive address, a UPnP UDP mapping, peers' echo of our QUIC socket, then
 * the LAN addresses of the QUIC socket (for peers behind the same NAT).
 */
export function ownCandidates(components: ServiceComponents, allowLoopback: boolean): string[] {
  const nat = natStatus(components.traversal())
  const found = [
    nat.reflexiveAddress,
    ...nat.upnp.mappings.filter((mapping) => mapping.protocol === 'udp').map((mapping) => mapping.address),
    ...(components.externalAddresses().quic ?? []),
    ...components.listenAddresses().filter((address) => address.startsWith('quic://')),
  ].filter((address): address is string => address !== undefined)
  const { targets } = screenCandidates(found, { allowLoopback })
  return targets.map((target) => formatAddress('quic', target.host, target.port))
}

/** A datagram peer as a QUIC address. */
export function quicAddress(peer: DatagramPeer): string {
  return formatAddress('quic', peer.host, peer.port)
}

/** Private ranges (RFC 1918, IPv6 unique local): a LAN, never the internet. Not 100.64/10: that is a carrier's NAT, not a LAN. */
const privateRanges = new BlockList()
privateRanges.addSubnet('10.0.0.0', 8, 'ipv4')
privateRanges.addSubnet('172.16.0.0', 12, 'ipv4')
privateRanges.addSubnet('192.168.0.0', 16, 'ipv4')
privateRanges.addSubnet('fc00::', 7, 'ipv6')

/**
 * Whether a punch target is a LAN address of ours: private and on one of this
 * host's own subnets, so no router (and no NAT) lies on the way and the path
 * that reaches it is `direct`, not `punched`. Being on-link matters: a
 * private address beyond a router (a carrier's 10/8, a UPnP mapping on it)
 * still crosses a NAT.
 */
export function isLanPath(peer: DatagramPeer, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): boolean {
  const host = normalizeIp(peer.host)
  const family = isIP(host)
  if (family === 0) return false
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (!privateRanges.check(host, type)) return false
  const onLink = new BlockList()
  for (const entry of Object.values(interfaces).flat()) {
    if (entry === undefined || entry.internal || entry.cidr === null) continue
    const [network, bits] = entry.cidr.split('/')
    const entryType = entry.family === 'IPv4' ? 'ipv4' : 'ipv6'
    if (network !== undefined && entryType === type) onLink.addSubnet(network, Number(bits), entryType)
  }
  return onLink.check(host, type)
}

/**
 * Whether the remote sits behind our own NAT: one of its candidates is our
 * public address (STUN reflexive, UPnP or PCP external), the same router's. Then
 * only the LAN path or the router's hairpinning can work, and either answers
 * within a round trip or two: no point punching for the full budget before
 * the relay.
 */
export function behindSameNat(nat: NatStatus, theirs: readonly DatagramPeer[]): boolean {
  const ours = new Set(
    [nat.reflexiveAddress, ...nat.upnp.mappings.map((mapping) => mapping.address), ...nat.pcp.mappings.map((mapping) => mapping.address)]
      .map((address) => (address === undefined ? undefined : parseAddress(address)?.host))
      .concat(nat.upnp.externalIp, nat.pcp.externalIp)
      .filter((host): host is string => host !== undefined && isIP(host) !== 0)
      .map(normalizeIp),
  )
  return theirs.some((peer) => ours.has(normalizeIp(peer.host)))
}
