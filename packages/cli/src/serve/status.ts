/**
 * What `crust serve` counts: connections and their bytes, relay circuits,
 * rendezvous registrations (per topic), STUN answers.
 *
 * @packageDocumentation
 */
import type { CrustNode } from '@crust/core'
import type { RendezvousServerHandle } from '@crust/discovery-rendezvous'
import type { RelayServerHandle, StunResponder } from '@crust/nat'

/** Topics listed in a status at most (the largest). */
export const STATUS_TOPICS = 10

/** One snapshot of a serve node. */
export interface ServeStatus {
  /** Open connections. */
  readonly connections: number
  /**
   * Payload bytes received and sent since start over open and closed
   * connections, as the core counts them: messages and application streams
   * to this node itself. The services' own protocol streams are not in these
   * counters: what the node carried for others is in
   * {@link ServeStatus.relay} (`relayedBytes`) and
   * {@link ServeStatus.rendezvous} (`bytesIn`, `bytesOut`).
   */
  readonly bytesIn: number
  readonly bytesOut: number
  /** Absent with `--no-relay`. */
  readonly relay?: { readonly circuits: number; readonly relayedBytes: number }
  /** Absent with `--no-rendezvous`. */
  readonly rendezvous?: {
    readonly registrations: number
    readonly peers: number
    readonly topics: number
    /** The {@link STATUS_TOPICS} largest topics. */
    readonly largestTopics: ReadonlyArray<{ readonly topic: string; readonly registrations: number }>
    /** Requests answered since start, all kinds (register, unregister, discover, lookup). */
    readonly requests: number
    /** Bytes of the requests read and of the answers served since start. */
    readonly bytesIn: number
    readonly bytesOut: number
  }
  /** Absent with `--no-stun`. */
  readonly stun?: { readonly answered: number; readonly dropped: number }
}

/** The parts a serve node runs (absent when switched off). */
export interface ServeParts {
  readonly relay?: RelayServerHandle
  readonly rendezvous?: RendezvousServerHandle
  readonly stun?: StunResponder
}

/** Counts a node's traffic from now on; {@link StatusSource.read} takes a snapshot. */
export class StatusSource {
  private closedIn = 0
  private closedOut = 0
  private readonly off: () => void

  constructor(
    private readonly node: CrustNode,
    private readonly parts: ServeParts,
  ) {
    // Bytes of a closed connection would vanish from the sum of the open ones: keep them.
    this.off = node.on('connection:close', ({ connection }) => {
      this.closedIn += connection.stats.bytesReceived
      this.closedOut += connection.stats.bytesSent
    })
  }

  read(): ServeStatus {
    let bytesIn = this.closedIn
    let bytesOut = this.closedOut
    const connections = this.node.connections
    for (const c of connections) {
      bytesIn += c.stats.bytesReceived
      bytesOut += c.stats.bytesSent
    }
    const { relay, rendezvous, stun } = this.parts
    const registry = rendezvous?.stats()
    return {
      connections: connections.length,
      bytesIn,
      bytesOut,
      ...(relay === undefined ? {} : { relay: relay.stats() }),
      ...(rendezvous === undefined || registry === undefined
        ? {}
        : {
            rendezvous: {
              registrations: registry.registrations,
              peers: registry.peers,
              topics: registry.topics,
              largestTopics: rendezvous.largestTopics(STATUS_TOPICS),
              requests: Object.values(registry.requests).reduce((sum, n) => sum + n, 0),
              bytesIn: registry.bytes.in,
              bytesOut: registry.bytes.out,
            },
          }),
      ...(stun === undefined ? {} : { stun: stun.stats() }),
    }
  }

  close(): void {
    this.off()
  }
}
