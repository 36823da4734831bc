// Scenario: @crust/core + @crust/transport-tcp + @crust/discovery-rendezvous only.
// A rendezvous server and two clients on loopback: each client finds the other
// by topic, and a third node reaches one by peer id alone (a lookup); then a
// message and a request go both ways.
import { createNode } from '@crust/core'
import { rendezvous, rendezvousServer } from '@crust/discovery-rendezvous'
import { tcp } from '@crust/transport-tcp'
import { answerRequests, deadline, exchange, uniqueNetwork } from './common.mjs'

const networkName = uniqueNetwork()

async function startNode(name, services) {
  const node = await createNode({ networkName, transports: [tcp({ host: '127.0.0.1' })], services, bootstrap: { cache: false }, logLevel: 'error' })
  answerRequests(name, node)
  await node.start()
  return { name, node }
}

/** Resolves to the first peer `node` hears of through rendezvous. */
function discovered(node) {
  return new Promise((resolve) => {
    const off = node.on('peer:discovered', (peer) => {
      if (peer.via !== 'rendezvous') return
      off()
      resolve(peer)
    })
  })
}

async function main() {
  const done = deadline(30_000)
  const server = await startNode('server', [rendezvousServer()])
  const contact = `${server.node.peerId}@${server.node.addresses.join(',')}`
  const client = (topics) => rendezvous({ servers: [contact], topics, autoConnect: false, refreshInterval: 300 })
  const alice = await startNode('alice', [client(['room'])])
  const found = discovered(alice.node) // before bob registers: the only peer alice can find
  const bob = await startNode('bob', [client(['room'])])
  const carol = await startNode('carol', [client([])])
  try {
    const bobSeen = await found
    if (bobSeen.peerId !== bob.node.peerId) throw new Error(`alice found ${bobSeen.peerId}, not bob`)
    console.log(`  alice found bob by topic at ${bobSeen.addresses.join(', ')}`)
    const toBob = await alice.node.connect({ peerId: bobSeen.peerId, addresses: bobSeen.addresses })
    await exchange(alice, bob, toBob)
    const toAlice = await carol.node.connect({ peerId: alice.node.peerId })
    console.log('  carol reached alice by peer id alone (a rendezvous lookup)')
    await exchange(carol, alice, toAlice)
  } finally {
    await Promise.all([alice.node.stop(), bob.node.stop(), carol.node.stop(), server.node.stop()])
    done()
  }
  console.log('  core + TCP + rendezvous: ok')
}

main().catch((error) => {
  console.error('  core + TCP + rendezvous failed:', error)
  process.exit(1)
})
