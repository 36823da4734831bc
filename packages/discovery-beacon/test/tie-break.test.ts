import { type CrustNode, createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { beacon } from '../src/index.js'
import { freeUdpPort, sleep, uniqueNetwork, waitFor } from './helpers.js'

const nodes: CrustNode[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
})

/** A beacon node with autoConnect whose connection events are recorded from before it starts. */
async function recordedNode(networkName: string, port: number) {
  const node = await createNode({
    networkName,
    transports: [tcp({ host: '127.0.0.1' })],
    discovery: [beacon({ loopback: true, port, autoConnect: true })],
    bootstrap: { cache: false },
    logLevel: 'error',
  })
  nodes.push(node)
  const log = { opens: 0, closes: [] as string[], messages: [] as string[] }
  node.on('connection:open', () => log.opens++)
  node.on('connection:close', ({ reason }) => log.closes.push(reason))
  node.on('message', (message) => log.messages.push(Buffer.from(message.data).toString()))
  return { node, log }
}

describe('two beacon peers that find each other', () => {
  it('open exactly one connection: one connection:open each, no simultaneous-open close before their first messages', async () => {
    for (let round = 0; round < 3; round++) {
      const port = await freeUdpPort()
      const network = uniqueNetwork()
      const a = await recordedNode(network, port)
      const b = await recordedNode(network, port)
      await Promise.all([a.node.start(), b.node.start()])
      await waitFor(() => a.node.connections.length === 1 && b.node.connections.length === 1, 4_000, 'one connection each')
      await a.node.send(b.node.peerId, Buffer.from('hi b'))
      await b.node.send(a.node.peerId, Buffer.from('hi a'))
      await waitFor(() => a.log.messages.length === 1 && b.log.messages.length === 1, 2_000, 'the first messages')
      await sleep(200) // a late second dial would show up by now
      expect({ round, a: a.log, b: b.log }).toEqual({
        round,
        a: { opens: 1, closes: [], messages: ['hi a'] },
        b: { opens: 1, closes: [], messages: ['hi b'] },
      })
      await Promise.all(nodes.splice(0).map((node) => node.stop()))
    }
  })
})
