/**
 * This machine's own addresses, and whether they are public: a machine
 * with no public IPv4 address sits behind some NAT.
 *
 * @packageDocumentation
 */
import { BlockList, isIPv4 } from 'node:net'
import { networkInterfaces } from 'node:os'

/** What kind of address it is; every kind but `public` is not reachable from the internet as such. */
export type AddressRange = 'public' | 'private' | 'shared' | 'link-local' | 'unique-local' | 'documentation' | 'reserved'

/** One address of a network interface. */
export interface LocalAddress {
  readonly address: string
  readonly interface: string
  /** Not a public internet address: private, shared (CGNAT), documentation (TEST-NET), reserved or unique-local. */
  readonly private: boolean
  /** Which kind of address (see {@link AddressRange}). */
  readonly range: AddressRange
}

/** Non-loopback addresses of this machine (IPv4, and IPv6 beyond link-local). */
export function localAddresses(): LocalAddress[] {
  const out: LocalAddress[] = []
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.internal || entry.address.toLowerCase().startsWith('fe80')) continue
      const range = addressRange(entry.address)
      out.push({ address: entry.address, interface: name, private: range !== 'public', range })
    }
  }
  return out
}

/** The special-purpose ranges (RFC 6890 and friends) an interface may carry, by kind. */
const RANGES: ReadonlyArray<readonly [Exclude<AddressRange, 'public'>, string, number]> = [
  ['private', '10.0.0.0', 8],
  ['private', '172.16.0.0', 12],
  ['private', '192.168.0.0', 16],
  ['shared', '100.64.0.0', 10], // RFC 6598, carrier-grade NAT
  ['link-local', '169.254.0.0', 16],
  ['documentation', '192.0.2.0', 24], // TEST-NET-1
  ['documentation', '198.51.100.0', 24], // TEST-NET-2
  ['documentation', '203.0.113.0', 24], // TEST-NET-3
  ['reserved', '0.0.0.0', 8],
  ['reserved', '192.0.0.0', 24], // IETF protocol assignments
  ['reserved', '198.18.0.0', 15], // benchmarking
  ['reserved', '240.0.0.0', 4],
  ['unique-local', 'fc00::', 7],
  ['link-local', 'fe80::', 10],
  ['documentation', '2001:db8::', 32],
  ['documentation', '3fff::', 20], // RFC 9637
]

const BLOCKS = RANGES.map(([range, network, prefix]) => {
  const list = new BlockList()
  list.addSubnet(network, prefix, isIPv4(network) ? 'ipv4' : 'ipv6')
  return { range, list }
})

/** The kind of `ip`; `public` when it is in none of the special-purpose ranges. */
export function addressRange(ip: string): AddressRange {
  const family = isIPv4(ip) ? 'ipv4' : 'ipv6'
  return BLOCKS.find(({ list }) => list.check(ip, family))?.range ?? 'public'
}

/** Not a public internet address (see {@link addressRange}). */
export function isPrivate(ip: string): boolean {
  return addressRange(ip) !== 'public'
}
