import { networkInterfaces } from 'node:os'

/**
 * The concrete addresses a wildcard bind is reachable at: every interface
 * address of that family. IPv6 link-local addresses are left out because they
 * are useless without a zone id.
 */
export function expandWildcard(host: string): string[] {
  const family = host === '::' ? 'IPv6' : host === '0.0.0.0' ? 'IPv4' : undefined
  if (family === undefined) return [host]
  const found: string[] = []
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family !== family) continue
      if (family === 'IPv6' && entry.address.toLowerCase().startsWith('fe80')) continue
      found.push(entry.address)
    }
  }
  // Loopback first: peers on the same host connect fastest there.
  return found.sort((a, b) => Number(isLoopback(b)) - Number(isLoopback(a)))
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.')
}
