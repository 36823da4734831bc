/**
 * The Crust demo: real nodes on this machine, real TCP + TLS 1.3, narrated.
 * The library-level version of `crust demo` (which `npx pnpm@10 demo` runs):
 * run it with `npx pnpm@10 --filter @crust/example-demo start`.
 */
import { BlacklistedError, type CrustNode, createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'

const say = (text: string): void => console.log(`• ${text}`)
const short = (peerId: string): string => `${peerId.slice(0, 12)}…`

async function startNode(name: string): Promise<CrustNode> {
  const node = await createNode({
    networkName: 'crust-demo',
    transports: [tcp({ host: '127.0.0.1' })],
    bootstrap: { cache: false },
    logLevel: 'error',
  })
  await node.start()
  node.handle((message) => {
    const text = Buffer.from(message.data).toString()
    if (!message.isRequest) {
      say(`${name} got a message from ${short(message.peerId)}: "${text}"`)
      return undefined
    }
    return Buffer.from(`${name} received "${text}"`)
  })
  say(`${name} is up: peer id ${short(node.peerId)} at ${node.addresses.join(', ')}`)
  return node
}

async function main(): Promise<void> {
  const started = Date.now()
  const alice = await startNode('alice')
  const bob = await startNode('bob')
  const carol = await startNode('carol')
  const nodes = [alice, bob, carol]
  try {
    const toBob = await alice.connect({ peerId: bob.peerId, addresses: bob.addresses })
    say(`alice connected to bob over ${toBob.transport} (${toBob.localAddress} → ${toBob.remoteAddress}), TLS 1.3, peer id verified`)
    await toBob.send(Buffer.from('hello from alice'))
    const answer = await toBob.request(Buffer.from('what did you get?'))
    say(`alice asked bob and got: "${Buffer.from(answer).toString()}"`)

    const messages = 1000
    const t0 = performance.now()
    await Promise.all(Array.from({ length: messages }, (_, i) => toBob.request(Buffer.from(`#${i}`))))
    const seconds = (performance.now() - t0) / 1000
    say(`alice sent ${messages} requests to bob, one stream each: ${Math.round(messages / seconds)} requests/s`)

    const toCarol = await bob.connectAny([
      { addresses: ['tcp://127.0.0.1:1'] },
      { peerId: carol.peerId, addresses: carol.addresses },
    ])
    say(`bob raced a dead address against carol with connectAny and reached ${short(toCarol.peerId)}`)

    const closed = toBob.closed
    alice.blacklist.add(bob.peerId)
    const info = await closed
    say(`alice blacklisted bob: the connection closed at once (${info.reason})`)
    const refused = await bob.connect({ peerId: alice.peerId, addresses: alice.addresses }, { retry: false }).catch((e: unknown) => e)
    say(`bob tried to reconnect and was refused: ${refused instanceof BlacklistedError ? 'BlacklistedError' : String(refused)}`)
    say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    await Promise.all(nodes.map((node) => node.stop()))
  }
}

main().catch((error: unknown) => {
  console.error('demo failed:', error)
  process.exit(1)
})
