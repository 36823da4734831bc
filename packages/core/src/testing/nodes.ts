import type { NodeConfigInput } from '../config/schema.js'
import { type CrustNode, createNode } from '../node.js'
import type { TransportFactory } from '../transport/types.js'
import { waitUntil } from './util.js'

/** Nodes made by {@link createTestNode} and not yet stopped by {@link stopTestNodes}. */
const running = new Set<CrustNode>()

/**
 * Create and start a node for a test: network `test-net`, errors-only
 * logging, and no bootstrap cache on disk unless `overrides.bootstrap.cacheDir`
 * names one (a test never touches the user's real cache). Give it transports
 * bound to loopback, e.g. `[tcp({ host: '127.0.0.1' })]`. The node is tracked
 * until {@link stopTestNodes} stops it (call that after each test).
 */
export async function createTestNode(transports: TransportFactory[], overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
  const node = await createNode({
    networkName: 'test-net',
    transports,
    logLevel: 'error',
    ...overrides,
    bootstrap: { cache: overrides.bootstrap?.cacheDir !== undefined, ...overrides.bootstrap },
  })
  running.add(node)
  await node.start()
  return node
}

/**
 * Stop `nodes` (default: every node {@link createTestNode} made that is still
 * tracked) and forget them. Never rejects: a node that fails to stop is a
 * teardown problem, not the test's result.
 */
export async function stopTestNodes(nodes: Iterable<CrustNode> = running): Promise<void> {
  const stopping = [...nodes]
  for (const node of stopping) running.delete(node)
  await Promise.allSettled(stopping.map((node) => node.stop()))
}

/** A contact for `node`, as another node dials it: its peer id and every address it listens on. */
export function contactOf(node: CrustNode): { peerId: string; addresses: string[] } {
  return { peerId: node.peerId, addresses: [...node.addresses] }
}

/** Resolve when `condition` holds (polled every 10 ms); reject naming `what` after `timeoutMs`. */
export function waitFor(condition: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  return waitUntil(condition, timeoutMs, what)
}
