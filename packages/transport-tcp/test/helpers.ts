import { createServer } from 'node:net'
import type { CrustNode, NodeConfigInput } from '@crust/core'
import { createTestNode, stopTestNodes } from '@crust/core/testing'
import { afterEach } from 'vitest'
import { tcp } from '../src/index.js'

/** Start a node on loopback with the TCP transport; stopped automatically after each test. */
export function startNode(overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
  return createTestNode([tcp({ host: '127.0.0.1' })], overrides)
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

afterEach(() => stopTestNodes())

export { contactOf, sha256, waitFor } from '@crust/core/testing'
