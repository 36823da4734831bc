// Profile Crust's QUIC request loop (1 KiB requests, a stream each) long enough for a CPU profile:
//
//   npx tsc -b && node --cpu-prof --cpu-prof-dir=/tmp/prof/client packages/transport-quic/bench/profile-requests.mjs [requests=30000] [inFlight=64] [bytes=1024]
//
// The server side runs in a child (quic-bench.mjs's server mode) with --cpu-prof
// (profile in $BENCH_PROF_DIR/server, default /tmp/prof/server). Summarise with
// `node bench/cpuprofile-top.mjs <dir>`. Prints requests/s and CPU µs per request of each side.
import { join } from 'node:path'
import { createNode } from '@crust/core'
import { quic } from '../dist/index.js'
import { serverChild } from './server-child.mjs'

const total = Number(process.argv[2] ?? 30_000)
const inFlight = Number(process.argv[3] ?? 64)
const bytes = Number(process.argv[4] ?? 1024)
const profDir = join(process.env.BENCH_PROF_DIR ?? '/tmp/prof', 'server')
const profile = process.env.BENCH_NO_PROF ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`]

const { call, ready, stop } = serverChild(profile)
await ready

let exitCode = 0
try {
  const info = await call({ cmd: 'start', impl: 'crust-quic' })
  const node = await createNode({ networkName: 'quic-bench', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
  await node.start()
  const conn = await node.connect({ peerId: info.peerId, addresses: info.addresses })
  const payload = Buffer.alloc(bytes, 0x62)
  const run = async (count) => {
    let issued = 0
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (issued < count) {
          issued++
          await conn.request(payload)
        }
      }),
    )
  }
  await run(2000)
  const cpuServer0 = (await call({ cmd: 'cpu' }).catch(() => ({}))).cpu
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  await run(total)
  const seconds = (performance.now() - start) / 1000
  const cpu = process.cpuUsage(cpu0)
  const cpuServer1 = (await call({ cmd: 'cpu' }).catch(() => ({}))).cpu
  const per = (c) => (c ? ((c.user + c.system) / total).toFixed(1) : '?')
  const serverCpu = cpuServer0 && cpuServer1 ? { user: cpuServer1.user - cpuServer0.user, system: cpuServer1.system - cpuServer0.system } : undefined
  process.stderr.write(
    `crust-quic: ${total} requests of ${bytes} B, ${inFlight} in flight: ${Math.round(total / seconds)} req/s; CPU µs/request client ${per(cpu)} server ${per(serverCpu)}\n`,
  )
  await node.stop()
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`)
  exitCode = 1
} finally {
  await stop()
}
process.exit(exitCode)
