import { type CrustNode, type NodeConfigInput, createNode } from '@crust/core'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'
import { afterEach } from 'vitest'

const started: CrustNode[] = []

/** Start a loopback node with TCP and QUIC (stopped after each test). */
export async function startNode(overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
  const node = await createNode({
    networkName: 'nat-test',
    transports: [tcp({ host: '127.0.0.1' }), quic({ host: '127.0.0.1' })],
    logLevel: 'error',
    ...overrides,
    bootstrap: { cache: false, ...overrides.bootstrap },
  })
  started.push(node)
  await node.start()
  return node
}

afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((node) => node.stop()))
})
