import { readFile } from 'node:fs/promises'

/**
 * The IPv4 default gateway, read from the kernel's routing table
 * (`/proc/net/route`, Linux): the router a PCP / NAT-PMP server sits on. Undefined
 * where there is no such file (other systems: configure `gateway`) or no default route.
 */
export async function defaultGateway(routeFile = '/proc/net/route'): Promise<string | undefined> {
  let table: string
  try {
    table = await readFile(routeFile, 'utf8')
  } catch {
    return undefined
  }
  return parseDefaultGateway(table)
}

/** The gateway of the first default route (destination 0, flag RTF_GATEWAY) in a `/proc/net/route` table. */
export function parseDefaultGateway(table: string): string | undefined {
  const RTF_UP = 0x1
  const RTF_GATEWAY = 0x2
  for (const line of table.split('\n').slice(1)) {
    const [, destination, gateway, flags] = line.trim().split(/\s+/)
    if (destination !== '00000000' || gateway === undefined || !/^[0-9A-Fa-f]{8}$/.test(gateway)) continue
    const bits = Number.parseInt(flags ?? '0', 16)
    if ((bits & RTF_UP) === 0 || (bits & RTF_GATEWAY) === 0) continue
    // Little-endian hex: 0101A8C0 is 192.168.1.1.
    const value = Number.parseInt(gateway, 16)
    const ip = [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24].join('.')
    if (ip !== '0.0.0.0') return ip
  }
  return undefined
}
