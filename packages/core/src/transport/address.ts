import { BlockList, isIP } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { SocketAddress } from './types.js'

const addressPattern = /^([a-z][a-z0-9+-]*):\/\/(\[[0-9a-fA-F:.%a-zA-Z]+\]|[^:/[\]]+):(\d{1,5})\/?$/

/**
 * Parse a transport address such as `tcp://127.0.0.1:4001` or `quic://[::1]:4001`.
 * Returns undefined for anything else, so callers decide how to report it.
 */
export function parseAddress(address: string): SocketAddress | undefined {
  const match = addressPattern.exec(address)
  if (!match) return undefined
  const [, transport, rawHost, rawPort] = match
  if (transport === undefined || rawHost === undefined || rawPort === undefined) return undefined
  const port = Number(rawPort)
  if (port > 65535) return undefined
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost
  if (rawHost.startsWith('[') && isIP(host) !== 6) return undefined
  return { transport, host, port }
}

/** Format a transport address; IPv6 literals get brackets. */
export function formatAddress(transport: string, host: string, port: number): string {
  return `${transport}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

/** Strip the IPv4-mapped IPv6 prefix (`::ffff:1.2.3.4` → `1.2.3.4`) so blacklists match either form. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip
}

/** Which IPs each helper below matches; a `BlockList` also matches every spelling and the IPv4-mapped forms. */
function ipSet(entries: ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6']>): BlockList {
  const set = new BlockList()
  for (const [ip, prefix, family] of entries) set.addSubnet(ip, prefix, family)
  return set
}
const loopback = ipSet([
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
])
const unspecified = ipSet([
  ['0.0.0.0', 32, 'ipv4'],
  ['::', 128, 'ipv6'],
])
const lanScoped = ipSet([
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
])

/**
 * Whether `host` is in `set`. A plain IPv4 address is decided by `ipv4`
 * instead: `isIP` admits only its one dotted-decimal spelling, and a
 * `BlockList` check costs tens of µs (it builds a `SocketAddress`), paid
 * several times per connection.
 */
function inSet(set: BlockList, ipv4: (ip: string) => boolean, host: string): boolean {
  const ip = host.split('%', 1)[0] ?? ''
  const family = isIP(ip)
  if (family === 4) return ipv4(ip)
  return family === 6 && set.check(ip, 'ipv6')
}

/** True for 127.0.0.0/8 and `::1`, in any spelling, IPv4-mapped (`::ffff:127.0.0.1`) or with a zone id; false for names. */
export function isLoopback(host: string): boolean {
  return inSet(loopback, (ip) => ip.startsWith('127.'), host)
}

/**
 * True for addresses that reach a host only from its own network: RFC 1918,
 * shared CGNAT space (100.64.0.0/10), link-local, unique local IPv6 (any
 * spelling, IPv4-mapped too); false for names.
 */
export function isLanScoped(host: string): boolean {
  return inSet(lanScoped, (ip) => lanScoped.check(ip, 'ipv4'), host)
}

/**
 * True when `address` (a transport address) names an IP that peers
 * elsewhere may reach: neither loopback, LAN-scoped nor a wildcard (a
 * public interface, a port mapping). A name is not counted: it may resolve
 * to anything.
 */
export function isGlobalAddress(address: string): boolean {
  const host = parseAddress(address)?.host
  return host !== undefined && isIP(host.split('%', 1)[0] ?? '') !== 0 && !isLoopback(host) && !isLanScoped(host) && !isWildcard(host)
}

/** True for the wildcard addresses `0.0.0.0` and `::` (any spelling, IPv4-mapped too): a bind that names no one interface. */
export function isWildcard(host: string): boolean {
  return inSet(unspecified, (ip) => ip === '0.0.0.0', host)
}

/**
 * The concrete addresses a bind to `host` is reachable at. A wildcard bind
 * answers on every interface address of its family (an IPv4-mapped wildcard
 * is IPv4); a `dualStack` `::` socket on both families. IPv6 link-local
 * addresses are left out (useless without a zone id). IPv4 before IPv6,
 * loopback first within each family: peers on the same host connect fastest
 * there. Any other host is returned alone; every result has its IPv4-mapped
 * prefix stripped ({@link normalizeIp}).
 *
 * @param options.dualStack - the socket bound to `::` also accepts IPv4 (default `false`)
 */
export function expandWildcard(host: string, options: { readonly dualStack?: boolean } = {}): string[] {
  if (!isWildcard(host)) return [normalizeIp(host)]
  const ipv4 = isIP(normalizeIp(host)) === 4
  const families = ipv4 ? ['IPv4'] : options.dualStack === true ? ['IPv4', 'IPv6'] : ['IPv6']
  const found: string[] = []
  for (const family of families) {
    const ofFamily: string[] = []
    for (const entries of Object.values(networkInterfaces())) {
      for (const entry of entries ?? []) {
        if (entry.family !== family) continue
        if (family === 'IPv6' && entry.address.toLowerCase().startsWith('fe80')) continue
        ofFamily.push(normalizeIp(entry.address))
      }
    }
    found.push(...ofFamily.sort((a, b) => Number(isLoopback(b)) - Number(isLoopback(a))))
  }
  return found
}
