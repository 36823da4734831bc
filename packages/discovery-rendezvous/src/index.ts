/**
 * `@crust/discovery-rendezvous`: find peers beyond the LAN. Nodes register
 * signed peer records under topics with rendezvous servers
 * (`rendezvousServer()` on a reachable node) and discover the other peers of
 * their topics; `node.connect({ peerId })` finds a peer's current addresses
 * through them.
 *
 * @example
 * ```ts
 * import { createNode } from '@crust/core'
 * import { tcp } from '@crust/transport-tcp'
 * import { rendezvous } from '@crust/discovery-rendezvous'
 *
 * const discovery = rendezvous({ servers: ['bciq...@tcp://203.0.113.7:4001'], topics: ['my-app'] })
 * const node = await createNode({ networkName: 'my-app', transports: [tcp()], services: [discovery] })
 * node.on('peer:discovered', ({ peerId, via }) => console.log(via, peerId))
 * await node.start()
 * discovery.join('my-app/room-7')
 * ```
 * @packageDocumentation
 */
import type { ServiceFactory } from '@crust/core'
import { RendezvousClient, type RendezvousStats } from './client.js'
import { type RendezvousOptions, type RendezvousServerOptions, parseRendezvousOptions, parseRendezvousServerOptions } from './options.js'
import type { PeerRecord } from './record.js'
import { RendezvousError } from './errors.js'
import { RendezvousServer, type RendezvousServerStats } from './server.js'

export { RENDEZVOUS_VIA, type RendezvousStats, type RendezvousClient } from './client.js'
export type { RendezvousServerStats, RendezvousServer } from './server.js'
export type { RendezvousOptions, RendezvousServerOptions, ServerContact } from './options.js'
export { RecordError, RendezvousError, type RecordRejection, type RendezvousFailure } from './errors.js'
export { RECORD_LIMITS, CLOCK_SKEW_MS, RecordBook, signRecord, verifyRecord, type PeerRecord, type RecordFields, type SignedRecord, type VerifyOptions } from './record.js'
export { RENDEZVOUS_PROTOCOL, MAX_PAGE, MAX_REQUEST_BYTES } from './protocol.js'

/** The rendezvous client as the application holds it: the service to pass in `services`, and its runtime controls. */
export interface Rendezvous extends ServiceFactory {
  /** Register under `topic` too and discover its peers (before `start()`: from the start). */
  join(topic: string): void
  /** Stop registering under `topic` (unregistered at once from the connected servers). */
  leave(topic: string): void
  /** The topics joined. */
  topics(): string[]
  /**
   * The current verified record of `peerId`, asked of the servers.
   *
   * @throws RendezvousError `not-found`, or `no-server` (none connected, or the node has not started).
   */
  lookup(peerId: string, signal?: AbortSignal): Promise<PeerRecord>
  /** Counters (zeros before start). */
  stats(): RendezvousStats
}

/**
 * The rendezvous discovery plugin. Pass it in the node's `services` (it
 * speaks to servers over the node's connections, keeps them connected, and
 * offers the node a lookup for `connect({ peerId })`); one node per instance.
 * Peers it finds are emitted as `peer:discovered` with `via: 'rendezvous'`.
 *
 * @throws ConfigError on invalid options.
 */
export function rendezvous(options: RendezvousOptions): Rendezvous {
  const resolved = parseRendezvousOptions(options)
  const topics = new Set(resolved.topics)
  let client: RendezvousClient | undefined
  const factory: ServiceFactory = (components) => {
    client = new RendezvousClient(components, resolved, topics)
    return client
  }
  const idle: RendezvousStats = {
    registrations: 0,
    discovered: 0,
    rejected: { malformed: 0, signature: 0, network: 0, expired: 0, 'too-long': 0, 'wrong-peer': 0, replayed: 0 },
    failedRequests: 0,
    recordsSigned: 0,
  }
  return Object.assign(factory, {
    join: (topic: string): void => {
      topics.add(topic)
      client?.join(topic)
    },
    leave: (topic: string): void => {
      topics.delete(topic)
      client?.leave(topic)
    },
    topics: (): string[] => [...topics],
    lookup: (peerId: string, signal?: AbortSignal): Promise<PeerRecord> =>
      client === undefined ? Promise.reject(new RendezvousError('no-server', 'the node has not started')) : client.lookup(peerId, signal),
    stats: (): RendezvousStats => client?.stats() ?? idle,
  })
}

/** A rendezvous server as the application holds it: the service to pass in `services`, and its counters. */
export interface RendezvousServerHandle extends ServiceFactory {
  /** Registrations, peers, topics, requests answered and refused (zeros before start). */
  stats(): RendezvousServerStats
  /** The `limit` topics holding the most registrations, largest first (for status tables; empty before start). */
  largestTopics(limit: number): Array<{ readonly topic: string; readonly registrations: number }>
}

/**
 * The rendezvous server service: pass it in the node's `services` on a node
 * others can reach. Bounded by its options (see the README's limits table).
 *
 * @throws ConfigError on invalid options.
 */
export function rendezvousServer(options: RendezvousServerOptions = {}): RendezvousServerHandle {
  const resolved = parseRendezvousServerOptions(options)
  let server: RendezvousServer | undefined
  const factory: ServiceFactory = (components) => {
    server = new RendezvousServer(components, resolved)
    return server
  }
  return Object.assign(factory, {
    stats: (): RendezvousServerStats =>
      server?.stats() ?? { registrations: 0, peers: 0, topics: 0, requests: { register: 0, unregister: 0, discover: 0, lookup: 0 }, refused: {}, bytes: { in: 0, out: 0 } },
    largestTopics: (limit: number) => server?.largestTopics(limit) ?? [],
  })
}
