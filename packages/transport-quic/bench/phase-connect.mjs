// Where a Crust QUIC connect's time goes, on the client: the library's QUIC handshake
// (QUICClient.createQUICClient, with Crust's config and certificate check), the rest of the
// transport's dial, and the core's HELLO/WELCOME and pooling. Sequential connects against a
// Crust server child; prints the median of each phase.
//
//   npx tsc -b && node packages/transport-quic/bench/phase-connect.mjs [connects=200]
import { createNode } from '@crust/core'
import { QUICClient } from '@crust/quic-lib'
import { quic } from '../dist/index.js'
import { serverChild as server } from './server-child.mjs'

const total = Number(process.argv[2] ?? 200)
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
const child = server([])
let exitCode = 0
try {
  await child.ready
  const info = await child.call({ cmd: 'start', impl: 'crust-quic' })
  const node = await createNode({ networkName: 'quic-bench', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
  await node.start()
  const original = QUICClient.createQUICClient
  let libraryMs = 0
  QUICClient.createQUICClient = async function (...args) {
    const t0 = performance.now()
    const client = await original.apply(this, args)
    libraryMs = performance.now() - t0
    return client
  }
  const phases = { library: [], total: [] }
  for (let i = 0; i < total + 5; i++) {
    const t0 = performance.now()
    const conn = await node.connect({ peerId: info.peerId, addresses: info.addresses })
    const t = performance.now() - t0
    if (i >= 5) {
      phases.library.push(libraryMs)
      phases.total.push(t)
    }
    await conn.close()
    while (node.connections.includes(conn)) await new Promise((r) => setTimeout(r, 1))
  }
  const lib = median(phases.library)
  const all = median(phases.total)
  process.stderr.write(`median ms: connect ${all.toFixed(2)}, of which library handshake ${lib.toFixed(2)}, the rest ${(all - lib).toFixed(2)}\n`)
  await node.stop()
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`)
  exitCode = 1
} finally {
  await child.stop()
}
process.exit(exitCode)
