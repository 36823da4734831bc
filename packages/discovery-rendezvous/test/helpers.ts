import { randomUUID } from 'node:crypto'
import {
  type CrustNode,
  type NodeConfigInput,
  type ServiceFactory,
  createNode,
} from '@crust/core'
import { hashNetworkName } from '@crust/core/plugin'
import { newSigningIdentity } from '@crust/core/testing'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'
import { afterEach } from 'vitest'
import { type Rendezvous, type RendezvousOptions, type RendezvousServerHandle, rendezvous, rendezvousServer } from '../src/index.js'
import type { RendezvousServerOptions } from '../src/options.js'

export type TransportName = 'tcp' | 'quic'

const nodes: CrustNode[] = []

/** A network name no other test uses. */
export function uniqueNetwork(): string {
  return `rendezvous-test-${randomUUID()}`
}

/** Start a loopback node with one transport (stopped after each test). */
export async function startNode(transport: TransportName, config: Partial<NodeConfigInput> & { networkName: string }): Promise<CrustNode> {
  const node = await createNode({
    transports: [transport === 'tcp' ? tcp({ host: '127.0.0.1' }) : quic({ host: '127.0.0.1' })],
    logLevel: 'error',
    ...config,
    bootstrap: { cache: false, ...config.bootstrap },
  })
  nodes.push(node)
  await node.start()
  return node
}

/** A rendezvous server node. */
export async function startServer(
  transport: TransportName,
  networkName: string,
  options: RendezvousServerOptions = {},
  extra: ServiceFactory[] = [],
): Promise<{ node: CrustNode; server: RendezvousServerHandle; contact: string }> {
  const server = rendezvousServer(options)
  const node = await startNode(transport, { networkName, services: [server, ...extra] })
  return { node, server, contact: contactOf(node) }
}

/** A rendezvous client node, with the peers it reported. */
export async function startClient(
  transport: TransportName,
  networkName: string,
  options: RendezvousOptions,
  config: Partial<NodeConfigInput> = {},
): Promise<{ node: CrustNode; rv: Rendezvous; discovered: Array<{ peerId: string; addresses: readonly string[]; via: string }> }> {
  const rv = rendezvous({ refreshInterval: 300, requestTimeout: 2_000, ...options })
  const discovered: Array<{ peerId: string; addresses: readonly string[]; via: string }> = []
  const node = await createNode({
    transports: [transport === 'tcp' ? tcp({ host: '127.0.0.1' }) : quic({ host: '127.0.0.1' })],
    logLevel: 'error',
    networkName,
    services: [rv],
    ...config,
    bootstrap: { cache: false, ...config.bootstrap },
  })
  nodes.push(node)
  node.on('peer:discovered', (peer) => discovered.push(peer))
  await node.start()
  return { node, rv, discovered }
}

/** `peerId@address,...` of a node. */
export function contactOf(node: CrustNode): string {
  return `${node.peerId}@${node.addresses.join(',')}`
}

/** A fresh signing identity, as another node would have. */
export const newIdentity = newSigningIdentity

export { hashNetworkName }

export { sleep, waitFor } from '@crust/core/testing'

afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
})
