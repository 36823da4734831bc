/**
 * This machine's own addresses, and whether they are private: a machine
 * with only private IPv4 addresses sits behind some NAT.
 *
 * @packageDocumentation
 */
import { isIPv4 } from 'node:net'
import { networkInterfaces } from 'node:os'

/** One address of a network interface. */
export interface LocalAddress {
  readonly address: string
  readonly interface: string
  /** Private, shared (CGNAT) or unique-local: not reachable from the internet as such. */
  readonly private: boolean
}

/** Non-loopback addresses of this machine (IPv4, and IPv6 beyond link-local). */
export function localAddresses(): LocalAddress[] {
  const out: LocalAddress[] = []
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.internal || entry.address.toLowerCase().startsWith('fe80')) continue
      out.push({ address: entry.address, interface: name, private: isPrivate(entry.address) })
    }
  }
  return out
}

/** RFC 1918, RFC 6598 (carrier-grade NAT), link-local, and IPv6 unique-local addresses. */
export function isPrivate(ip: string): boolean {
  if (isIPv4(ip)) {
    const [a = 0, b = 0] = ip.split('.').map(Number)
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254)
  }
  return /^f[cd]/i.test(ip)
}
