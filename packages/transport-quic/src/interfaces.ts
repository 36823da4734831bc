import { isIP } from 'node:net'
import { networkInterfaces } from 'node:os'

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(host: string): boolean {
  const ip = host.startsWith('::ffff:') ? host.slice(7) : host
  return ip === '::1' || (isIP(ip) === 4 && ip.startsWith('127.'))
}

/** True for `0.0.0.0` and `::`. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '::0'
}

/**
 * The concrete addresses a wildcard bind is reachable at. A dual-stack `::`
 * socket answers on every IPv4 and IPv6 interface address; IPv6 link-local
 * addresses are left out (useless without a zone id). Loopback first within
 * each family, IPv4 before IPv6.
 */
export function expandWildcard(host: string, dualStack: boolean): string[] {
  if (!isWildcard(host)) return [host]
  const families = host === '0.0.0.0' ? ['IPv4'] : dualStack ? ['IPv4', 'IPv6'] : ['IPv6']
  const found: string[] = []
  for (const family of families) {
    const ofFamily: string[] = []
    for (const entries of Object.values(networkInterfaces())) {
      for (const entry of entries ?? []) {
        if (entry.family !== family) continue
        if (family === 'IPv6' && entry.address.toLowerCase().startsWith('fe80')) continue
        ofFamily.push(entry.address)
      }
    }
    found.push(...ofFamily.sort((a, b) => Number(isLoopback(b)) - Number(isLoopback(a))))
  }
  return found
}
