// throw-away: Crust QUIC listener in this process, N idle clients in a child; exit with them open (heaptrack "leaked" = live)
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createNode } from '@crust/core'
import { quic } from '../dist/index.js'
const N = Number(process.argv[2] ?? 300)
if (process.argv[3] === 'client') {
  const { openIdleClients } = await import('./idle-clients.mjs')
  const contact = JSON.parse(process.argv[4])
  await openIdleClients(contact, N, [])
  process.send('up')
  process.on('message', () => process.exit(0))
} else {
  const node = await createNode({ networkName: 'quic-bench', transports: [quic({ host: '127.0.0.1' })], connection: { maxInboundPerIp: 2100, maxInboundPerSubnet: 2100, maxPendingInbound: 1000, maxConnections: 2100 }, logLevel: 'error' })
  await node.start()
  node.handle(() => Buffer.from([1]))
  const child = fork(fileURLToPath(import.meta.url), [String(N), 'client', JSON.stringify({ peerId: node.peerId, addresses: node.addresses })])
  await new Promise((r) => child.once('message', r))
  await new Promise((r) => setTimeout(r, 1500))
  global.gc?.()
  console.log('rss', process.memoryUsage().rss)
  child.kill('SIGKILL')
  process.exit(0)
}
