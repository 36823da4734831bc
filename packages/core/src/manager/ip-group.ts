/**
 * Grouping of remote IPs into the blocks one operator is likely to control, so
 * per-IP limits cannot be sidestepped by rotating through addresses that cost
 * an attacker nothing (an IPv6 /64 holds 2^64 of them).
 *
 * @packageDocumentation
 */
import ipaddr from 'ipaddr.js'
import { normalizeIp } from '../transport/address.js'

/** Prefix lengths that define a group, per family. */
export interface IpPrefixes {
  readonly ipv4: number
  readonly ipv6: number
}

/**
 * The network block of `ip` at the family's prefix length, as `address/prefix`
 * (e.g. `203.0.113.0/24`, `2001:db8:1:2::/64`). IPv4-mapped IPv6 addresses
 * group as IPv4. A string that is no IP is returned as is, so it still forms a
 * group of its own instead of escaping every limit.
 */
export function ipGroup(ip: string, prefixes: IpPrefixes): string {
  const normalized = normalizeIp(ip.toLowerCase())
  if (!ipaddr.isValid(normalized)) return normalized
  const parsed = ipaddr.process(normalized)
  const prefix = parsed.kind() === 'ipv4' ? prefixes.ipv4 : prefixes.ipv6
  const bytes = parsed.toByteArray()
  for (let i = 0; i < bytes.length; i++) {
    const keptBits = Math.max(0, Math.min(8, prefix - i * 8))
    bytes[i] = (bytes[i] ?? 0) & (0xff << (8 - keptBits)) & 0xff
  }
  return `${ipaddr.fromByteArray(bytes).toString()}/${prefix}`
}
