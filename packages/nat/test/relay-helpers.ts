import type { CrustNode, NodeConfigInput, ServiceEvent } from '@crust/core'
import { Collector, sha256, waitUntil } from '@crust/core/testing'
import { tcp } from '@crust/transport-tcp'
import { startNode as startLoopbackNode } from './helpers.js'
import { type RelayOptions, type RelayServerOptions, relay, relayServer } from '../src/relay/index.js'

/** Start a loopback TCP-only node (stopped after each test by the shared helpers). */
export function startNode(overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
  return startLoopbackNode({ networkName: 'relay-test', transports: [tcp({ host: '127.0.0.1' })], ...overrides })
}

/** A contact for `node`, as another node dials it. */
export function contactOf(node: CrustNode): { peerId: string; addresses: string[] } {
  return { peerId: node.peerId, addresses: node.addresses }
}

/** The relay triangle: R serves relays; A and B run the relay client and are connected to R only. */
export interface Triangle {
  readonly r: CrustNode
  readonly a: CrustNode
  readonly b: CrustNode
}

/** Options of {@link triangle}. */
export interface TriangleOptions {
  readonly server?: RelayServerOptions
  readonly client?: RelayOptions
  /** Config of A and B; by default both are clients (nothing to dial directly, so no upgrade). */
  readonly a?: Partial<NodeConfigInput>
  readonly b?: Partial<NodeConfigInput>
  readonly r?: Partial<NodeConfigInput>
}

/** Start R, A and B, and connect A and B to R. */
export async function triangle(options: TriangleOptions = {}): Promise<Triangle> {
  const client = { upgrade: false as const, ...options.client }
  const r = await startNode({ services: [relayServer(options.server)], ...options.r })
  const a = await startNode({ role: 'client', services: [relay(client)], ...options.a })
  const b = await startNode({ role: 'client', services: [relay(client)], ...options.b })
  await Promise.all([a.connect(contactOf(r)), b.connect(contactOf(r))])
  return { r, a, b }
}

/** Collect a node's service events of `service`. */
export function serviceEvents(node: CrustNode, service: string): Collector<ServiceEvent> {
  const collector = new Collector<ServiceEvent>()
  node.on('service:event', (event) => {
    if (event.service === service) collector.push(event)
  })
  return collector
}

/** Resolve when `condition` holds, polling; fail after `timeoutMs`. */
export function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  return waitUntil(condition, timeoutMs, what)
}



export { sha256 }
