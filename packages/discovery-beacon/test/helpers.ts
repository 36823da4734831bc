import { randomUUID } from 'node:crypto'
import { type Socket, createSocket } from 'node:dgram'
import {
  type CrustNode,
  type NodeConfigInput,
  createNode,
} from '@crust/core'
import { hashNetworkName } from '@crust/core/plugin'
import { tcp } from '@crust/transport-tcp'
import { newSigningIdentity } from '@crust/core/testing'
import { afterEach } from 'vitest'
import { BeaconDiscovery } from '../src/beacon-discovery.js'
import type { BeaconOptions } from '../src/index.js'

/** A node started by {@link startBeaconNode}, with its plugin instance and the peers it reported. */
export interface BeaconNode {
  readonly node: CrustNode
  readonly plugin: () => BeaconDiscovery
  readonly discovered: Array<{ peerId: string; addresses: readonly string[]; via: string }>
}

const nodes: CrustNode[] = []
const sockets: Socket[] = []

/** A UDP port that was free a moment ago, so parallel test files never share a beacon port. */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

/** A network name no other test uses. */
export function uniqueNetwork(): string {
  return `beacon-test-${randomUUID()}`
}

/**
 * Start a node with TCP on 127.0.0.1 and the beacon in loopback-only mode
 * (nothing leaves the host); stopped after each test.
 */
export async function startBeaconNode(
  networkName: string,
  options: BeaconOptions,
  config: Partial<NodeConfigInput> = {},
): Promise<BeaconNode> {
  let instance: BeaconDiscovery | undefined
  const node = await createNode({
    networkName,
    transports: [tcp({ host: '127.0.0.1' })],
    discovery: [(components) => (instance = new BeaconDiscovery(components, { loopback: true, ...options }))],
    logLevel: 'error',
    bootstrap: { cache: false },
    ...config,
  })
  nodes.push(node)
  const discovered: BeaconNode['discovered'] = []
  node.on('peer:discovered', (peer) => discovered.push(peer))
  await node.start()
  return {
    node,
    discovered,
    plugin: () => {
      if (!instance) throw new Error('beacon plugin not started')
      return instance
    },
  }
}

/** A raw UDP socket on loopback, closed after each test. */
export async function rawSocket(): Promise<Socket> {
  const socket = createSocket('udp4')
  sockets.push(socket)
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return socket
}

/**
 * Send a datagram, wait until the kernel has taken it, then yield one turn of
 * the event loop so the receiving sockets of this process can read. (The send
 * callback comes on the next tick, without an event-loop turn: a loop that
 * only awaited it would overflow the receive buffers of our own nodes.)
 */
export async function sendRaw(socket: Socket, datagram: Uint8Array, port: number, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => socket.send(datagram, port, host, (error) => (error ? reject(error) : resolve())))
  await new Promise((resolve) => setImmediate(resolve))
}

/** A fresh signing identity, as another node would have. */
export const newIdentity = newSigningIdentity

export { hashNetworkName }

export { sleep, waitFor } from '@crust/core/testing'

afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
  for (const socket of sockets.splice(0)) {
    try {
      socket.close()
    } catch {
      // already closed
    }
  }
})
