// Scenario: @crust/core + @crust/transport-quic + @crust/discovery-beacon only.
// Two nodes find each other by loopback beacons, then exchange a message and
// a request both ways over QUIC.
import { createSocket } from 'node:dgram'
import { createNode } from '@crust/core'
import { beacon } from '@crust/discovery-beacon'
import { libraryIsPatched, quic } from '@crust/transport-quic'
import { answerRequests, deadline, exchange, uniqueNetwork } from './common.mjs'

const networkName = uniqueNetwork()

/** A UDP port that was free a moment ago, so parallel runs do not share beacons. */
async function freeUdpPort() {
  const socket = createSocket('udp4')
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address()
  await new Promise((resolve) => socket.close(resolve))
  return port
}

async function createBeaconNode(name, beaconPort) {
  const node = await createNode({
    networkName,
    transports: [quic({ host: '127.0.0.1' })],
    discovery: [beacon({ loopback: true, port: beaconPort })],
    bootstrap: { cache: false },
    logLevel: 'error',
  })
  answerRequests(name, node)
  return { name, node }
}

/** Resolves to what `node` heard about `peerId` from the beacon. */
function discovered(node, peerId) {
  return new Promise((resolve) => {
    const off = node.on('peer:discovered', (peer) => {
      if (peer.peerId !== peerId || peer.via !== 'beacon') return
      off()
      resolve(peer)
    })
  })
}

async function main() {
  const done = deadline(30_000)
  // @crust/transport-quic runs on @crust/quic-lib, @matrixai/quic with Crust's patch.
  if (!libraryIsPatched()) throw new Error('the QUIC library as installed does not carry the crust patch')
  console.log('  the QUIC library as installed carries the crust patch')
  const beaconPort = await freeUdpPort()
  const alice = await createBeaconNode('alice', beaconPort)
  const bob = await createBeaconNode('bob', beaconPort)
  const bobFound = discovered(alice.node, bob.node.peerId)
  const aliceFound = discovered(bob.node, alice.node.peerId)
  try {
    await Promise.all([alice.node.start(), bob.node.start()])
    const [bobSeen, aliceSeen] = await Promise.all([bobFound, aliceFound])
    console.log(`  alice found bob by beacon at ${bobSeen.addresses.join(', ')}`)
    console.log(`  bob found alice by beacon at ${aliceSeen.addresses.join(', ')}`)
    const toBob = await alice.node.connect({ peerId: bobSeen.peerId, addresses: bobSeen.addresses })
    const toAlice = await bob.node.connect({ peerId: aliceSeen.peerId, addresses: aliceSeen.addresses })
    await exchange(alice, bob, toBob)
    await exchange(bob, alice, toAlice)
  } finally {
    await Promise.all([alice.node.stop(), bob.node.stop()])
    done()
  }
  console.log('  core + QUIC + beacon: ok')
}

main().catch((error) => {
  console.error('  core + QUIC + beacon failed:', error)
  process.exit(1)
})
