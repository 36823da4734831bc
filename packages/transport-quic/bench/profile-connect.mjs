// Connect time of Crust over QUIC (QUIC + TLS handshake with client certificates, peer id
// check, Crust HELLO/WELCOME) against bare @matrixai/quic as published, default settings (as
// quic-bench.mjs measures it), in alternating batches of 10, each against a server child
// (quic-bench.mjs's server mode):
//
//   npx tsc -b && node [--cpu-prof --cpu-prof-dir=/tmp/prof/client] packages/transport-quic/bench/profile-connect.mjs [connects=200]
//
// BENCH_SERVER_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof/server") goes to the Crust
// server child; CONNECT_ONLY=crust leaves bare out (for a profile of Crust alone). Prints the median connect ms of each, their ratio, and the client's CPU µs per connect.
// BARE_MTLS=1 adds a third arm: bare @matrixai/quic with mutual TLS as Crust does it (client
// certificates, both sides checking the other's in the verifyCallback with Crust's check), to
// tell the cost of mutual TLS from the cost of the rest of Crust.
import { clientFor, serverStart } from './connect-arms.mjs'
import { serverChild as server } from './server-child.mjs'

const total = Number(process.argv[2] ?? 200)
const BATCH = 10
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[sorted.length >> 1]
}

const withMtls = process.env.BARE_MTLS === '1'
const names = process.env.CONNECT_ONLY === 'crust' ? ['crust-quic'] : withMtls ? ['crust-quic', 'bare-default', 'bare-mtls'] : ['crust-quic', 'bare-default']
/** Per arm: its server child (BENCH_SERVER_ARGS only for Crust's), client, and what was measured. */
const arms = names.map((name) => ({
  name,
  child: server(name === 'crust-quic' ? (process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean) : []),
  times: [],
  cpu: 0,
  serverCpu: 0,
}))
let exitCode = 0
try {
  await Promise.all(arms.map((arm) => arm.child.ready))
  for (const arm of arms) arm.client = await clientFor(arm.name, await arm.child.call(serverStart(arm.name)))
  const once = async (arm, warm) => {
    const c0 = process.cpuUsage()
    const started = performance.now()
    const conn = await arm.client.connect()
    const elapsed = performance.now() - started
    const used = process.cpuUsage(c0)
    if (!warm) {
      arm.times.push(elapsed)
      arm.cpu += used.user + used.system
    }
    await arm.client.close(conn)
  }
  // Warm-up, each arm alike (CONNECT_WARMUP, default 500): V8 optimises the connect path over the first
  // few hundred connects, and Crust's longer path later than bare's.
  for (let i = 0; i < Number(process.env.CONNECT_WARMUP ?? 500); i++) for (const arm of arms) await once(arm, true)
  const serverCpu = async (child) => {
    const { cpu } = await child.call({ cmd: 'cpu' })
    return cpu.user + cpu.system
  }
  for (let i = 0; i < total; i += BATCH) {
    const turn = i / BATCH
    // Rotate which arm goes first, so none always runs right after another.
    for (let k = 0; k < arms.length; k++) {
      const arm = arms[(k + turn) % arms.length]
      const before = await serverCpu(arm.child)
      for (let j = 0; j < BATCH; j++) await once(arm, false)
      arm.serverCpu += (await serverCpu(arm.child)) - before
    }
  }
  const perConnect = (arm) => `${(arm.cpu / arm.times.length).toFixed(0)} + ${(arm.serverCpu / arm.times.length).toFixed(0)}`
  const [crust, bare, mtls] = arms
  if (mtls !== undefined) {
    process.stderr.write(`bare with mutual TLS and Crust's certificate check: ${median(mtls.times).toFixed(2)} ms; CPU µs/connect ${perConnect(mtls)}\n`)
  }
  const c = median(crust.times)
  const b = bare !== undefined ? median(bare.times) : Number.NaN
  process.stderr.write(
    `connect median: crust ${c.toFixed(2)} ms, bare ${b.toFixed(2)} ms, ratio ${(c / b).toFixed(2)}; CPU µs/connect (client + server, close included on the server): crust ${perConnect(crust)}, bare ${bare !== undefined ? perConnect(bare) : 'n/a'}\n`,
  )
  for (const arm of arms) await arm.client.stop()
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`)
  exitCode = 1
} finally {
  await Promise.all(arms.map((arm) => arm.child.stop()))
}
process.exit(exitCode)
