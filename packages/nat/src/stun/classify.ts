import type { DatagramPeer } from '@crust/core'
import type { NatMapping } from '../status.js'
import { normalizeIp } from '@crust/core/plugin'

/** Our own socket, to tell "no NAT" from "NAT". */
export interface LocalSocket {
  readonly port: number
  /** Every IP address of this host's interfaces. */
  readonly hosts: ReadonlySet<string>
}

function same(a: DatagramPeer, b: DatagramPeer): boolean {
  return a.port === b.port && normalizeIp(a.host) === normalizeIp(b.host)
}

function isLocal(peer: DatagramPeer, local: LocalSocket): boolean {
  return peer.port === local.port && local.hosts.has(normalizeIp(peer.host))
}

/**
 * The NAT mapping behaviour (RFC 4787 / RFC 5780 test I and II) from what two
 * STUN servers at different IPs saw of the same socket: seen at our own
 * address means no NAT; the same outside address from both means
 * endpoint-independent mapping; different ones, endpoint-dependent.
 */
export function classifyMapping(first: DatagramPeer, second: DatagramPeer | undefined, local: LocalSocket): NatMapping {
  if (second === undefined) return isLocal(first, local) ? 'none' : 'unknown'
  if (!same(first, second)) return 'endpoint-dependent'
  return isLocal(first, local) ? 'none' : 'endpoint-independent'
}
