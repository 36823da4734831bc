import type { ServiceComponents } from '@crust/core'
import { isLoopback } from '@crust/core/plugin'
import { type MappingTarget, mappableAddresses } from '../upnp/targets.js'

/**
 * What a port-mapping service (UPnP, PCP) could map for this node, or why
 * there is nothing: a client accepts no inbound connections, and a node
 * that listens on loopback only is out of every gateway's reach (unless a
 * gateway is configured: it may sit anywhere, even on loopback in tests).
 */
export function mappingCandidates(
  components: Pick<ServiceComponents, 'role' | 'listenAddresses'>,
  gatewayConfigured: boolean,
): { readonly targets: MappingTarget[] } | { readonly nothing: string } {
  if (components.role === 'client') return { nothing: 'nothing to map: a client node accepts no inbound connections' }
  const targets = mappableAddresses(components.listenAddresses()).filter((target) => gatewayConfigured || !isLoopback(target.host))
  if (targets.length === 0) return { nothing: 'nothing to map: the node listens on no IPv4 TCP or QUIC address beyond loopback' }
  return { targets }
}

/**
 * Early checks of the gateway, asked for by its announcements or by a path
 * of the node going silent (a rebooted router drops every NAT state): at
 * most one per `intervalMs`, whoever asks, so neither a chatty gateway nor a
 * peer that lets its connection die can make the node query its gateway at
 * will. Subscribes to the node's network-change signal (else path loss).
 */
export class EarlyGatewayCheck {
  private last = 0
  private readonly unsubscribe: (() => void) | undefined

  constructor(
    components: Pick<ServiceComponents, 'onNetworkChange' | 'onPathLost'>,
    private readonly intervalMs: number,
    private readonly run: (why: string) => void,
  ) {
    const onChange = components.onNetworkChange ?? components.onPathLost
    this.unsubscribe = onChange?.(() => this.ask('a path went silent'))
  }

  /** Check now, unless a check was asked for less than `intervalMs` ago. */
  ask(why: string): void {
    const now = Date.now()
    if (now - this.last < this.intervalMs) return
    this.last = now
    this.run(why)
  }

  stop(): void {
    this.unsubscribe?.()
  }
}
