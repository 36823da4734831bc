/**
 * Where beacons go: which interfaces send them, from which address, and to
 * which broadcast and multicast destinations. A pure function of the
 * interface list (`os.networkInterfaces()`) and the options.
 *
 * @packageDocumentation
 */
import type { NetworkInterfaceInfo } from 'node:os'
import type { OutgoingInterface } from './addresses.js'
import { bareIp, directedBroadcast, inSubnet, isLinkLocalV6, prefixOf, zoneOf } from './ip.js'

/**
 * Kinds of beacon destination:
 * - `broadcast`: the limited broadcast 255.255.255.255 (never sent in loopback mode);
 * - `subnet-broadcast`: each IPv4 subnet's directed broadcast, e.g. 192.168.1.255;
 * - `multicast`: the IPv4 multicast group;
 * - `multicast6`: the IPv6 link-local multicast group (not on loopback, which has no IPv6 multicast).
 */
export type BeaconTarget = 'broadcast' | 'subnet-broadcast' | 'multicast' | 'multicast6'

/** Every target kind, the default. */
export const ALL_TARGETS: readonly BeaconTarget[] = ['broadcast', 'subnet-broadcast', 'multicast', 'multicast6']

/** One destination of a sender's beacons. */
export interface Destination {
  readonly host: string
  readonly kind: BeaconTarget
}

/** A subnet of an interface. */
export interface Subnet {
  readonly network: string
  readonly prefix: number
}

/** One sending socket: an interface and address family, with its destinations. */
export interface SenderPlan {
  /** Unique and stable while the interface keeps its address: `4|eth0|192.168.1.5`, `6|eth0`. */
  readonly key: string
  readonly interfaceName: string
  readonly family: 4 | 6
  /** Address to bind the socket to (port 0). IPv4 binds the interface address, so broadcasts leave through it. */
  readonly bindAddress: string
  /** Argument of `setMulticastInterface` (IPv4 address, or `::%name`). */
  readonly multicastInterface: string
  /** Multicast group the shared listener joins on this interface, if any. */
  readonly membership?: { readonly group: string; readonly interfaceAddress: string }
  readonly destinations: readonly Destination[]
  /** What address selection needs to know about the interface. */
  readonly outgoing: OutgoingInterface
  readonly subnets: readonly Subnet[]
}

/** The options target planning depends on. */
export interface TargetOptions {
  readonly targets: readonly BeaconTarget[]
  /** Interface names to use; undefined: every eligible interface. */
  readonly interfaces?: readonly string[]
  /** Single-host mode: the loopback interface only. */
  readonly loopback: boolean
  readonly multicastGroup: string
  readonly multicastGroup6: string
}

/**
 * Plan the sending sockets. Without `loopback`, internal (loopback)
 * interfaces are skipped; with it, only they are used, and only with the
 * `multicast` and `subnet-broadcast` targets (127.255.255.255), so nothing
 * leaves the host.
 */
export function planSenders(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>, options: TargetOptions): SenderPlan[] {
  const wanted = new Set(options.targets)
  const plans: SenderPlan[] = []
  for (const [name, entries] of Object.entries(interfaces)) {
    if (!entries || entries.length === 0) continue
    if (options.interfaces && !options.interfaces.includes(name)) continue
    const usable = entries.filter((entry) => entry.internal === options.loopback)
    if (usable.length === 0) continue
    const subnets: Subnet[] = []
    for (const entry of usable) {
      const prefix = prefixOf(entry.cidr)
      if (prefix !== undefined) subnets.push({ network: entry.address, prefix })
    }
    const outgoing: OutgoingInterface = { addresses: usable.map((entry) => bareIp(entry.address)), loopback: options.loopback }

    const v4 = usable.filter((entry) => entry.family === 'IPv4')
    const first4 = v4[0]
    if (first4) {
      const destinations: Destination[] = []
      if (wanted.has('multicast')) destinations.push({ host: options.multicastGroup, kind: 'multicast' })
      if (wanted.has('broadcast') && !options.loopback) destinations.push({ host: '255.255.255.255', kind: 'broadcast' })
      if (wanted.has('subnet-broadcast')) {
        for (const entry of v4) {
          const broadcast = directedBroadcast(entry.address, prefixOf(entry.cidr) ?? 32)
          if (broadcast && !destinations.some((d) => d.host === broadcast)) destinations.push({ host: broadcast, kind: 'subnet-broadcast' })
        }
      }
      if (destinations.length > 0) {
        plans.push({
          key: `4|${name}|${first4.address}`,
          interfaceName: name,
          family: 4,
          bindAddress: first4.address,
          multicastInterface: first4.address,
          membership: wanted.has('multicast') ? { group: options.multicastGroup, interfaceAddress: first4.address } : undefined,
          destinations,
          outgoing: { ...outgoing, family: 4 },
          subnets,
        })
      }
    }

    const hasV6 = usable.some((entry) => entry.family === 'IPv6')
    if (hasV6 && wanted.has('multicast6') && !options.loopback) {
      plans.push({
        key: `6|${name}`,
        interfaceName: name,
        family: 6,
        bindAddress: '::',
        multicastInterface: `::%${name}`,
        membership: { group: options.multicastGroup6, interfaceAddress: `::%${name}` },
        destinations: [{ host: `${options.multicastGroup6}%${name}`, kind: 'multicast6' }],
        outgoing: { ...outgoing, family: 6 },
        subnets,
      })
    }
  }
  return plans
}

/**
 * The plan whose interface a datagram from `source` arrived on, to answer a
 * query through it: a zoned IPv6 source names its interface; otherwise the
 * first plan of the source's family with a subnet containing it. Undefined
 * when the source is not on any of our links (we do not answer off-link).
 */
export function planForSource(plans: readonly SenderPlan[], source: string): SenderPlan | undefined {
  const zone = zoneOf(source)
  const ip = bareIp(source)
  const family = ip.includes(':') ? 6 : 4
  if (zone && isLinkLocalV6(ip)) return plans.find((plan) => plan.family === 6 && plan.interfaceName === zone)
  return plans.find((plan) => plan.family === family && plan.subnets.some((subnet) => inSubnet(ip, subnet.network, subnet.prefix)))
}
