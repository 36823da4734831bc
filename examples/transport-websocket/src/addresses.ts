import { networkInterfaces } from 'node:os'
import type { SocketAddress } from '@crust/core'
import { formatAddress, normalizeIp, parseAddress } from '@crust/core/plugin'

/**
 * The scheme of this transport's Crust addresses, and its id. The addresses
 * read `ws://host:port`, but the wire is always TLS 1.3 (`wss://` URLs):
 * like `tcp://`, a Crust address names the transport, and every Crust
 * transport is secured with the node's identity. See the README.
 */
export const SCHEME = 'ws'

/** Parse a `ws://host:port` address; undefined for anything else. */
export function parseWsAddress(address: string): SocketAddress | undefined {
  const parsed = parseAddress(address)
  return parsed?.transport === SCHEME ? parsed : undefined
}

/** The `wss://` URL a dialer opens for a parsed address. */
export function urlFor(address: SocketAddress, path: string): string {
  return `${formatAddress('wss', address.host, address.port)}${path}`
}

/** The Crust address of a socket end, e.g. `ws://127.0.0.1:4001`. */
export function addressOf(host: string | undefined, port: number | undefined): string {
  return formatAddress(SCHEME, normalizeIp(host ?? ''), port ?? 0)
}

/**
 * Addresses a bind to `host` is reachable at: a wildcard (`0.0.0.0`, `::`)
 * becomes every interface address of its family, loopback first; IPv6
 * link-local addresses are skipped (useless without a zone id).
 */
export function reachableHosts(host: string): string[] {
  const family = host === '0.0.0.0' ? 'IPv4' : host === '::' ? 'IPv6' : undefined
  if (family === undefined) return [host]
  const hosts = Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .filter((entry) => entry.family === family && !(family === 'IPv6' && /^fe80/i.test(entry.address)))
    .map((entry) => ({ address: entry.address, internal: entry.internal }))
  hosts.sort((a, b) => Number(b.internal) - Number(a.internal))
  return hosts.map((h) => h.address)
}
