import { isIP } from 'node:net'
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
