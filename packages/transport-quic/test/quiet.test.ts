import { type CrustNode, type LogRecord, type NodeConfigInput, createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'

const nodes: CrustNode[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
})

/** A node with TCP and QUIC at the default log level, whose warnings and errors are kept in `loud`. */
async function loggedNode(overrides: Partial<NodeConfigInput> = {}) {
  const loud: string[] = []
  const node = await createNode({
    networkName: 'quiet-test',
    transports: [tcp({ host: '127.0.0.1' }), quic({ host: '127.0.0.1' })],
    bootstrap: { cache: false },
    logSink: (record: LogRecord) => {
      if (record.level === 'warn' || record.level === 'error') loud.push(`${record.prefix}: ${record.message}`)
    },
    ...overrides,
  })
  nodes.push(node)
  await node.start()
  return { node, loud }
}

describe('quiet by default', () => {
  it('a clean stop right after connecting logs no warning (reachability dial-backs into a stopping node used to)', async () => {
    for (let round = 0; round < 6; round++) {
      const a = await loggedNode()
      const b = await loggedNode()
      await a.node.connect({ peerId: b.node.peerId, addresses: b.node.addresses })
      // b dials a back to check its claim to the node role; a stops meanwhile (alone, or with b).
      await new Promise((resolve) => setTimeout(resolve, [0, 2, 5][round % 3]))
      if (round < 3) await a.node.stop()
      await Promise.all([a.node.stop(), b.node.stop()])
      await new Promise((resolve) => setTimeout(resolve, 50)) // late reports of aborted handshakes
      expect({ round, a: a.loud, b: b.loud }).toEqual({ round, a: [], b: [] })
    }
  })

  it('connect({ addresses }) without a peer id reuses the connection already dialled at that address', async () => {
    const a = await loggedNode()
    const b = await loggedNode()
    let opens = 0
    b.node.on('connection:open', () => opens++)
    const tcpAddress = b.node.addresses.find((address) => address.startsWith('tcp://')) as string
    const first = await a.node.connect({ addresses: [tcpAddress] })
    const second = await a.node.connect({ addresses: [tcpAddress] })
    const again = await a.node.connect({ addresses: [tcpAddress.replace('127.0.0.1', '[::ffff:127.0.0.1]')] })
    expect(second).toBe(first)
    expect(again).toBe(first)
    expect(first.peerId).toBe(b.node.peerId)
    expect(opens).toBe(1)
    // Another address (here QUIC, or pinned to another transport) is another dial.
    const quicAddress = b.node.addresses.find((address) => address.startsWith('quic://')) as string
    const overQuic = await a.node.connect({ addresses: [quicAddress] }, { transport: 'quic' })
    expect(overQuic.transport).toBe('quic')
  })
})
