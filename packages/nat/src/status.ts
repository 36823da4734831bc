/**
 * The NAT vocabulary of this package's services, and how it travels through
 * the core's open traversal reports: STUN reports kind `stun` (state = the
 * mapping behaviour, addresses = the reflexive address), UPnP reports kind
 * `upnp` (state = the gateway state, addresses = the mapped addresses, the
 * gateway and mappings in `details`). {@link natStatus} reads them back.
 *
 * @packageDocumentation
 */
import type { TraversalReport, TraversalStatus } from '@crust/core'

/** NAT mapping behaviour of the datagram socket (RFC 4787). */
export type NatMapping = 'unknown' | 'none' | 'endpoint-independent' | 'endpoint-dependent'

/** The node's view of the NAT it sits behind, as this package's services learn it. */
export interface NatStatus {
  /** Reflexive UDP address of the node's datagram socket (where STUN servers or peers see it), e.g. `quic://203.0.113.10:40001`. */
  readonly reflexiveAddress: string | undefined
  /**
   * NAT mapping behaviour of the datagram socket (RFC 4787): `none` (the node
   * has a public address), `endpoint-independent` (hole punching works),
   * `endpoint-dependent` (symmetric NAT: needs a relay), or `unknown`.
   */
  readonly mapping: NatMapping
  /** The UPnP gateway's state and the mappings it holds for this node. */
  readonly upnp: UpnpStatus
  /** The PCP / NAT-PMP gateway's state and the mappings it holds for this node (`pcp()`). */
  readonly pcp: PcpStatus
  /**
   * The ports STUN servers saw the datagram socket at, in the order asked.
   * Behind an endpoint-dependent NAT, consecutive ports mean it hands out
   * ports in turn (predictable, see hole punching); absent until known.
   */
  readonly mappedPorts?: readonly number[]
}

/** UPnP gateway state of a node. */
export interface UpnpStatus {
  /** `unknown` until looked for; `unavailable` (no gateway), `refused` (it would not map), `mapped`. */
  readonly state: 'unknown' | 'unavailable' | 'refused' | 'mapped'
  /** Gateway control URL, when found. */
  readonly gateway?: string
  /** The gateway's external IP, when it told us. */
  readonly externalIp?: string
  /** Port mappings held for this node. */
  readonly mappings: readonly PortMapping[]
  /** Why it is unavailable or refused, in plain words. */
  readonly reason?: string
}

/** PCP / NAT-PMP gateway state of a node: the same states as {@link UpnpStatus}. */
export interface PcpStatus extends UpnpStatus {
  /** The protocol the gateway answered in, once known: also the `conn.method` of connections through its mappings. */
  readonly protocol?: 'pcp' | 'nat-pmp'
}

/** One port mapping on a gateway. */
export interface PortMapping {
  readonly protocol: 'tcp' | 'udp'
  readonly internalPort: number
  readonly externalPort: number
  /** The address peers dial to use it, e.g. `tcp://198.51.100.7:40001`. */
  readonly address: string
}

/** The report kinds this package's services use. */
export const STUN_KIND = 'stun'
export const UPNP_KIND = 'upnp'
export const PCP_KIND = 'pcp'

const MAPPINGS: readonly NatMapping[] = ['unknown', 'none', 'endpoint-independent', 'endpoint-dependent']
const UPNP_STATES: ReadonlyArray<UpnpStatus['state']> = ['unknown', 'unavailable', 'refused', 'mapped']

/** STUN's report: the mapping behaviour, the reflexive address and the mapped ports (in the order asked) when known. */
export function stunReport(reflexiveAddress: string | undefined, mapping: NatMapping, mappedPorts?: readonly number[]): TraversalReport {
  return {
    kind: STUN_KIND,
    state: mapping,
    addresses: reflexiveAddress === undefined ? [] : [reflexiveAddress],
    ...(mappedPorts === undefined ? {} : { details: { ports: [...mappedPorts] } }),
    // No NAT: the node's own address is public, peers can dial it.
    ...(mapping === 'none' && { reachable: true }),
  }
}

/** UPnP's report: the gateway state, the mapped addresses, and the gateway and mappings in `details`. */
export function upnpReport(upnp: UpnpStatus): TraversalReport {
  const { state, reason, mappings, gateway, externalIp } = upnp
  return {
    kind: UPNP_KIND,
    state,
    addresses: mappings.map((mapping) => mapping.address),
    ...(reason === undefined ? {} : { reason }),
    details: { gateway, externalIp, mappings },
    // A mapping held on the gateway: peers anywhere can dial the node through it.
    ...(state === 'mapped' && mappings.length > 0 && { reachable: true }),
  }
}

/** PCP's report: like UPnP's, plus the protocol the gateway speaks in `details`. */
export function pcpReport(pcp: PcpStatus): TraversalReport {
  const report = upnpReport(pcp)
  return { ...report, kind: PCP_KIND, details: { ...report.details, protocol: pcp.protocol } }
}

/**
 * The NAT status this package's services reported, read from the node's
 * traversal reports (`node.nat`, the `nat:change` event's `status`, or a
 * service's `components.traversal()`). Kinds it does not know are ignored;
 * what no service reported yet reads as `unknown`.
 */
export function natStatus(status: TraversalStatus): NatStatus {
  const stun = status[STUN_KIND]
  return {
    reflexiveAddress: stun?.addresses?.[0],
    mapping: oneOf(stun?.state, MAPPINGS) ?? 'unknown',
    upnp: upnpStatus(status[UPNP_KIND]),
    pcp: pcpStatus(status[PCP_KIND]),
    ...mappedPortsOf(stun?.details?.ports),
  }
}

function mappedPortsOf(ports: unknown): Pick<NatStatus, 'mappedPorts'> {
  if (!Array.isArray(ports) || !ports.every((port) => Number.isInteger(port))) return {}
  return { mappedPorts: ports as number[] }
}

function pcpStatus(report: TraversalReport | undefined): PcpStatus {
  const protocol = oneOf(typeof report?.details?.protocol === 'string' ? report.details.protocol : undefined, ['pcp', 'nat-pmp'] as const)
  return { ...upnpStatus(report), ...(protocol === undefined ? {} : { protocol }) }
}

function upnpStatus(report: TraversalReport | undefined): UpnpStatus {
  const state = oneOf(report?.state, UPNP_STATES)
  if (report === undefined || state === undefined) return { state: 'unknown', mappings: [] }
  const details = report.details ?? {}
  return {
    state,
    ...optionalText('gateway', details.gateway),
    ...optionalText('externalIp', details.externalIp),
    mappings: Array.isArray(details.mappings) ? (details.mappings as PortMapping[]) : [],
    ...optionalText('reason', report.reason),
  }
}

function oneOf<T extends string>(word: string | undefined, words: readonly T[]): T | undefined {
  return words.find((known) => known === word)
}

function optionalText<K extends string>(key: K, value: unknown): Partial<Record<K, string>> {
  return typeof value === 'string' ? ({ [key]: value } as Record<K, string>) : {}
}
