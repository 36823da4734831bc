/**
 * Small IP helpers the beacon alone needs: classification (link-local,
 * multicast), subnet tests and directed broadcast addresses. Loopback and
 * wildcard tests are `@crust/core`'s `isLoopback` and `isWildcard`.
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import { normalizeIp } from '@crust/core/plugin'

/** An IP without its zone id (`fe80::1%eth0` → `fe80::1`), IPv4-mapped IPv6 unwrapped. */
export function bareIp(ip: string): string {
  return normalizeIp(ip.split('%', 1)[0] ?? '')
}

/** The zone id of an IPv6 address (`eth0` of `fe80::1%eth0`), if any. */
export function zoneOf(ip: string): string | undefined {
  const index = ip.indexOf('%')
  return index < 0 ? undefined : ip.slice(index + 1) || undefined
}

/** IPv4 dotted quad as an unsigned 32-bit number; undefined for anything else. */
export function ipv4ToNumber(ip: string): number | undefined {
  if (isIP(ip) !== 4) return undefined
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0)
}

/** Unsigned 32-bit number as an IPv4 dotted quad. */
export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.')
}

/** IPv6 address (zone ignored) as a 128-bit bigint; undefined for anything else. */
export function ipv6ToBigInt(ip: string): bigint | undefined {
  const address = ip.split('%', 1)[0] ?? ''
  if (isIP(address) !== 6) return undefined
  let text = address
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4?.[1]) {
    const n = ipv4ToNumber(v4[1])
    if (n === undefined) return undefined
    text = `${text.slice(0, -v4[1].length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const headParts = head ? head.split(':') : []
  const tailParts = tail === undefined ? [] : tail ? tail.split(':') : []
  const zeros = tail === undefined ? 0 : 8 - headParts.length - tailParts.length
  const parts = [...headParts, ...Array<string>(zeros).fill('0'), ...tailParts]
  if (parts.length !== 8) return undefined
  return parts.reduce((acc, part) => (acc << 16n) | BigInt(Number.parseInt(part, 16)), 0n)
}

/** True for IPv6 link-local fe80::/10, which needs a zone id to be dialled. */
export function isLinkLocalV6(ip: string): boolean {
  const value = ipv6ToBigInt(ip)
  return value !== undefined && value >> 118n === 0x3fan
}

/** True for multicast (224.0.0.0/4, ff00::/8) and the IPv4 limited broadcast: never a peer's own address. */
export function isGroupIp(ip: string): boolean {
  const bare = bareIp(ip)
  const v4 = ipv4ToNumber(bare)
  if (v4 !== undefined) return v4 >>> 28 === 0xe || v4 === 0xffffffff
  const v6 = ipv6ToBigInt(bare)
  return v6 !== undefined && v6 >> 120n === 0xffn
}

/** Prefix length of a CIDR such as `192.168.1.5/24`; undefined if malformed. */
export function prefixOf(cidr: string | null | undefined): number | undefined {
  const prefix = Number(cidr?.split('/')[1])
  return Number.isInteger(prefix) && prefix >= 0 && prefix <= 128 ? prefix : undefined
}

/** True when `ip` lies in the subnet `network/prefix` (same family only). */
export function inSubnet(ip: string, network: string, prefix: number): boolean {
  const bare = bareIp(ip)
  const a4 = ipv4ToNumber(bare)
  const n4 = ipv4ToNumber(network)
  if (a4 !== undefined && n4 !== undefined) {
    if (prefix <= 0) return true
    const mask = prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0
    return ((a4 & mask) >>> 0) === ((n4 & mask) >>> 0)
  }
  const a6 = ipv6ToBigInt(bare)
  const n6 = ipv6ToBigInt(network)
  if (a6 === undefined || n6 === undefined) return false
  const shift = BigInt(128 - Math.min(prefix, 128))
  return a6 >> shift === n6 >> shift
}

/**
 * The directed broadcast address of an IPv4 subnet (`192.168.1.255` for
 * `192.168.1.5/24`); undefined for IPv6, /31 and /32, which have none.
 */
export function directedBroadcast(address: string, prefix: number): string | undefined {
  const value = ipv4ToNumber(address)
  if (value === undefined || prefix >= 31 || prefix < 1) return undefined
  const hostMask = (2 ** (32 - prefix) - 1) >>> 0
  return numberToIpv4((value | hostMask) >>> 0)
}
