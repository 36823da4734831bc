import { createServer } from 'node:net'
import { type CrustNode, type NodeConfigInput, createNode } from '@crust/core'
import { waitUntil, sha256 } from '@crust/core/testing'
import { afterEach } from 'vitest'
import { tcp } from '../src/index.js'

const started: CrustNode[] = []

/** Start a node on loopback with the TCP transport; stopped automatically after each test. */
export async function startNode(overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
  const node = await createNode({
    networkName: 'test-net',
    transports: [tcp({ host: '127.0.0.1' })],
    logLevel: 'error',
    ...overrides,
    // Tests never touch the user's real cache directory unless they name one.
    bootstrap: { cache: overrides.bootstrap?.cacheDir !== undefined, ...overrides.bootstrap },
  })
  started.push(node)
  await node.start()
  return node
}

/** A contact for `node`, as another node dials it. */
export function contactOf(node: CrustNode): { peerId: string; addresses: string[] } {
  return { peerId: node.peerId, addresses: node.addresses }
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Resolve when `condition` holds, polling; fail after `timeoutMs`. */
export function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  return waitUntil(condition, timeoutMs, what)
}

afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((node) => node.stop()))
})

export { sha256 }
