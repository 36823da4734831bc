// Connect time of one implementation, alone in this process, against a server child of its own
// (quic-bench.mjs's server mode): the client side loads only what that implementation's users load.
//
//   npx tsc -b && node packages/transport-quic/bench/connect-solo.mjs <arm> [timed=50] [warmup=500]
//
// Arms: crust (two Crust nodes over quic(): QUIC + TLS with client certificates, peer id check,
// HELLO/WELCOME), bare-default (@matrixai/quic as published, default config, no client
// certificate), bare-patched (the same on @crust/quic-lib), bare-mtls (published, mutual TLS with
// Crust's certificate check on both sides). BENCH_SERVER_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR")
// goes to the server child. Prints one JSON line: the median connect ms of the
// timed connects and the client's and server's CPU µs per timed connect (close included).
import { randomFillSync } from 'node:crypto'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { mtlsCheck } from './mtls-check.mjs'
import { serverChild } from './server-child.mjs'

const ARMS = ['crust', 'bare-default', 'bare-patched', 'bare-mtls']
const arm = process.argv[2]
if (!ARMS.includes(arm)) {
  process.stderr.write(`usage: connect-solo.mjs <${ARMS.join('|')}> [timed] [warmup]\n`)
  process.exit(2)
}
const timed = Number(process.argv[3] ?? 50)
const warmup = Number(process.argv[4] ?? 500)

const silentLogger = { debug() {}, info() {}, warn() {}, error() {}, getChild: () => silentLogger }
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** `{ connect, close, stop }` for the arm, against the started server `info`. */
async function clientFor(info) {
  if (arm === 'crust') {
    const { createNode } = await import('@crust/core')
    const { quic } = await import('../dist/index.js')
    const node = await createNode({ networkName: 'quic-bench', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
    await node.start()
    const contact = { peerId: info.peerId, addresses: info.addresses }
    return { connect: () => node.connect(contact), close: (c) => c.close(), stop: () => node.stop() }
  }
  const entry = fileURLToPath(import.meta.resolve(arm === 'bare-patched' ? '@crust/quic-lib' : '@matrixai/quic'))
  const lib = await import(pathToFileURL(entry).href)
  const socket = new lib.QUICSocket({ logger: silentLogger })
  await socket.start({ host: '127.0.0.1', port: 0 })
  let config = { verifyPeer: false }
  if (arm === 'bare-mtls') {
    const { createIdentity } = await import('@crust/core/plugin')
    const { identity } = await createIdentity({})
    config = { key: identity.privateKeyPem, cert: identity.certificatePem, verifyPeer: true, verifyCallback: mtlsCheck(identity) }
  }
  const crypto = { ops: { randomBytes: async (a) => void randomFillSync(new Uint8Array(a)) } }
  return {
    connect: () => lib.QUICClient.createQUICClient({ host: '127.0.0.1', port: info.port, socket, crypto, logger: silentLogger, config }),
    close: (c) => c.destroy({ force: true }),
    stop: () => socket.stop({ force: true }),
  }
}

const server = serverChild((process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean))
let exitCode = 0
try {
  await server.ready
  const start =
    arm === 'crust'
      ? { impl: 'crust-quic' }
      : { impl: arm, entry: fileURLToPath(import.meta.resolve(arm === 'bare-patched' ? '@crust/quic-lib' : '@matrixai/quic')), mtls: arm === 'bare-mtls' }
  const info = await server.call({ cmd: 'start', ...start })
  const client = await clientFor(info)
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
