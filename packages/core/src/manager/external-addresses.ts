import type { Logger } from '../logger.js'
import { formatAddress, parseAddress } from '../transport/address.js'

/** Peers' echoes kept per transport; older ones are forgotten first. */
const MAX_OBSERVATIONS = 64

/**
 * What peers tell us about where they see us (the echo in their handshake),
 * turned into the addresses we are reachable at from outside, per transport.
 * A transport whose outgoing connections leave from the listening port (QUIC's
 * shared socket) is seen at exactly its external address; for the others
 * (TCP's ephemeral source ports) only the observed IP is kept, with our
 * listening port.
 */
export class ExternalAddressBook {
  private readonly byTransport = new Map<string, Map<string, string>>()
  private readonly warned = new Set<string>()

  constructor(
    private readonly listenAddresses: () => string[],
    private readonly configured: readonly string[] | undefined,
    private readonly logger: Logger,
    private readonly onConflict: (transport: string, addresses: string[]) => void,
  ) {}

  /** Record that `peerId` sees us at `observed` on `transport`. */
  record(transport: string, peerId: string, observed: string | undefined): void {
    if (observed === undefined || parseAddress(observed)?.transport !== transport) return
    let observations = this.byTransport.get(transport)
    if (!observations) {
      observations = new Map()
      this.byTransport.set(transport, observations)
    }
    observations.delete(peerId)
    observations.set(peerId, observed)
    if (observations.size > MAX_OBSERVATIONS) observations.delete(observations.keys().next().value as string)
    this.check(transport)
  }

  /** External addresses per transport, from peers' echoes. */
  addresses(): Record<string, string[]> {
    const result: Record<string, string[]> = {}
    for (const transport of this.byTransport.keys()) result[transport] = this.externalFor(transport)
    return result
  }

  private externalFor(transport: string): string[] {
    const listenPorts = new Set(
      this.listenAddresses()
        .map(parseAddress)
        .filter((a) => a?.transport === transport)
        .map((a) => a?.port),
    )
    const found = new Set<string>()
    for (const observed of this.byTransport.get(transport)?.values() ?? []) {
      const parsed = parseAddress(observed)
      if (!parsed) continue
      if (listenPorts.has(parsed.port) || listenPorts.size === 0) found.add(observed)
      else for (const port of listenPorts) if (port !== undefined) found.add(formatAddress(transport, parsed.host, port))
    }
    return [...found]
  }

  private check(transport: string): void {
    const hosts = new Set([...(this.byTransport.get(transport)?.values() ?? [])].map((a) => parseAddress(a)?.host))
    const addresses = this.externalFor(transport)
    if (hosts.size > 1) {
      const key = `conflict ${transport} ${[...hosts].sort().join(',')}`
      if (!this.warned.has(key)) {
        this.warned.add(key)
        this.logger.warn(`peers disagree about our ${transport} address: ${[...hosts].join(', ')}`)
        this.onConflict(transport, addresses)
      }
    }
    const configured = (this.configured ?? []).filter((a) => parseAddress(a)?.transport === transport)
    if (configured.length === 0) return
    const configuredHosts = new Set(configured.map((a) => parseAddress(a)?.host))
    for (const host of hosts) {
      const key = `override ${transport} ${host}`
      if (host !== undefined && !configuredHosts.has(host) && !this.warned.has(key)) {
        this.warned.add(key)
        this.logger.warn(`externalAddresses says ${configured.join(', ')} but a peer sees us at ${host} (${transport})`)
      }
    }
  }
}
