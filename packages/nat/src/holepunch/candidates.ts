import { BlockList, isIP } from 'node:net'
import type { DatagramPeer, ServiceComponents } from '@crust/core'
import { formatAddress, isLoopback, isWildcard, normalizeIp, parseAddress } from '@crust/core/plugin'
import { natStatus } from '../status.js'

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
