// Idle client connections for the listener benchmarks (quic-bench.mjs's idle scenario, idle-heap.mjs):
// one Crust client node (role client, QUIC only) per connection, 16 started at a time.
import { createNode } from '@crust/core'
import { quic } from '../dist/index.js'

/** Start `count` client nodes connected to `contact`; each is pushed onto `nodes` (the caller stops them). */
export async function openIdleClients(contact, count, nodes) {
  let started = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (started < count) {
        started++
        const node = await createNode({ networkName: 'quic-bench', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
        nodes.push(node)
        await node.start()
        await node.connect(contact)
      }
    }),
  )
}
