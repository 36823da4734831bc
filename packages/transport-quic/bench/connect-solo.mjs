// Connect time of one implementation, alone in this process, against a server child of its own
// (quic-bench.mjs's server mode): the client side loads only what that implementation's users load.
//
//   npx tsc -b && node packages/transport-quic/bench/connect-solo.mjs <arm> [timed=50] [warmup=500]
//
// Arms: see connect-arms.mjs. BENCH_SERVER_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR") goes to
// the server child. Prints one JSON line: the median connect ms of the timed connects and the
// client's and server's CPU µs per timed connect (close included).
import { ARMS, clientFor, serverStart } from './connect-arms.mjs'
import { serverChild } from './server-child.mjs'

const arm = process.argv[2]
if (!ARMS.includes(arm)) {
  process.stderr.write(`usage: connect-solo.mjs <${ARMS.join('|')}> [timed] [warmup]\n`)
  process.exit(2)
}
const timed = Number(process.argv[3] ?? 50)
const warmup = Number(process.argv[4] ?? 500)

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const server = serverChild((process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean))
let exitCode = 0
try {
  await server.ready
  const info = await server.call(serverStart(arm))
  const client = await clientFor(arm, info)
  for (let i = 0; i < warmup; i++) await client.close(await client.connect())
  const serverCpu = async () => {
    const { cpu } = await server.call({ cmd: 'cpu' })
    return cpu.user + cpu.system
  }
  const times = []
  const server0 = await serverCpu()
  const cpu0 = process.cpuUsage()
  for (let i = 0; i < timed; i++) {
    const started = performance.now()
    const connection = await client.connect()
    times.push(performance.now() - started)
    await client.close(connection)
  }
  const cpu = process.cpuUsage(cpu0)
  const serverUs = (await serverCpu()) - server0
  await client.stop()
  process.stdout.write(
    `${JSON.stringify({
      arm,
      connectMedianMs: Number(median(times).toFixed(3)),
      cpuMicrosPerConnect: { client: Math.round((cpu.user + cpu.system) / timed), server: Math.round(serverUs / timed) },
    })}\n`,
  )
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`)
  exitCode = 1
} finally {
  await server.stop()
}
process.exit(exitCode)
