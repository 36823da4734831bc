// Scenario: @crust/core + @crust/transport-tcp only. Two nodes on 127.0.0.1
// connect and exchange a message and a request both ways.
import { createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { answerRequests, deadline, exchange, uniqueNetwork } from './common.mjs'

const networkName = uniqueNetwork()

async function startNode(name) {
  const node = await createNode({ networkName, transports: [tcp({ host: '127.0.0.1' })], bootstrap: { cache: false }, logLevel: 'error' })
  answerRequests(name, node)
  await node.start()
  console.log(`  ${name} listens on ${node.addresses.join(', ')}`)
  return { name, node }
}

async function main() {
  const done = deadline(30_000)
  const alice = await startNode('alice')
  const bob = await startNode('bob')
  try {
    const toBob = await alice.node.connect({ peerId: bob.node.peerId, addresses: bob.node.addresses })
    const toAlice = await bob.node.connect({ peerId: alice.node.peerId, addresses: alice.node.addresses })
    await exchange(alice, bob, toBob)
    await exchange(bob, alice, toAlice)
  } finally {
    await Promise.all([alice.node.stop(), bob.node.stop()])
    done()
  }
  console.log('  core + TCP: ok')
}

main().catch((error) => {
  console.error('  core + TCP failed:', error)
  process.exit(1)
})
