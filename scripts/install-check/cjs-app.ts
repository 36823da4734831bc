// Scenario: a CommonJS TypeScript project. tsconfig.cjs.json is strict with
// module/moduleResolution NodeNext in a "type": "commonjs" package, so tsc
// compiles these imports to require() calls; the check type-checks, compiles
// and runs it. Two nodes connect over QUIC and TCP and exchange a request.
import { type CrustNode, type IncomingMessage, createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { quic } from '@crust/transport-quic'

const networkName = `crust-install-check-cts-${process.pid}`

async function startNode(name: string): Promise<CrustNode> {
  const node = await createNode({
    networkName,
    transports: [quic({ host: '127.0.0.1' }), tcp({ host: '127.0.0.1' })],
    bootstrap: { cache: false },
    logLevel: 'error',
  })
  node.handle((message: IncomingMessage) => (message.isRequest ? Buffer.from(`${name} got ${Buffer.from(message.data)}`) : undefined))
  await node.start()
  return node
}

async function main(): Promise<void> {
  const timer = setTimeout(() => {
    console.error('  timed out after 30000 ms')
    process.exit(1)
  }, 30_000)
  const alice = await startNode('alice')
  const bob = await startNode('bob')
  try {
    for (const scheme of ['quic', 'tcp'] as const) {
      const addresses = bob.addresses.filter((address) => address.startsWith(`${scheme}://`))
      const connection = await alice.connect({ peerId: bob.peerId, addresses })
      const answer = Buffer.from(await connection.request(Buffer.from('ping'))).toString()
      if (connection.transport !== scheme || answer !== 'bob got ping') throw new Error(`unexpected ${connection.transport}: "${answer}"`)
      console.log(`  compiled CommonJS: alice asked bob over ${connection.transport} and got "${answer}"`)
      await connection.close()
    }
  } finally {
    await Promise.all([alice.stop(), bob.stop()])
    clearTimeout(timer)
  }
  console.log('  CommonJS TypeScript: ok')
}

main().catch((error: unknown) => {
  console.error('  CommonJS TypeScript failed:', error)
  process.exit(1)
})
