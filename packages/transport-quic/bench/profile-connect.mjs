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
import { randomFillSync } from 'node:crypto'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createNode } from '@crust/core'
import { quic } from '../dist/index.js'
import { serverChild as server } from './server-child.mjs'
import { mtlsCheck } from './mtls-check.mjs'
import { createIdentity } from '@crust/core/plugin'

const total = Number(process.argv[2] ?? 200)
const BATCH = 10
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[sorted.length >> 1]
}

const silentLogger = { debug() {}, info() {}, warn() {}, error() {}, getChild: () => silentLogger }
const bareClientCrypto = { ops: { randomBytes: async (a) => void randomFillSync(new Uint8Array(a)) } }

const crustServer = server((process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean))
const bareServer = server([])
const withMtls = process.env.BARE_MTLS === '1'
const mtlsServer = withMtls ? server([]) : undefined
let exitCode = 0
try {
  await Promise.all([crustServer.ready, bareServer.ready, mtlsServer?.ready])
  const publishedEntry = fileURLToPath(import.meta.resolve('@matrixai/quic'))
  const info = await crustServer.call({ cmd: 'start', impl: 'crust-quic' })
  const bareInfo = await bareServer.call({ cmd: 'start', impl: 'bare-default', entry: publishedEntry })
  const mtlsInfo = await mtlsServer?.call({ cmd: 'start', impl: 'bare-default', entry: publishedEntry, mtls: true })
  const { identity: clientIdentity } = await createIdentity({})
  const lib = await import(pathToFileURL(publishedEntry).href)
  const socket = new lib.QUICSocket({ logger: silentLogger })
  await socket.start({ host: '127.0.0.1', port: 0 })
  const node = await createNode({ networkName: 'quic-bench', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
  await node.start()
  const contact = { peerId: info.peerId, addresses: info.addresses }
  const crust = { times: [], cpu: 0 }
  const bare = { times: [], cpu: 0 }
  const mtls = { times: [], cpu: 0 }
  const measure = async (into, connect, close, warm) => {
    const c0 = process.cpuUsage()
    const started = performance.now()
    const conn = await connect()
    const elapsed = performance.now() - started
    const used = process.cpuUsage(c0)
    if (!warm) {
      into.times.push(elapsed)
      into.cpu += used.user + used.system
    }
    await close(conn)
  }
  const crustOnce = (warm) => measure(crust, () => node.connect(contact), (c) => c.close(), warm)
  const bareOnce = (warm) =>
    measure(
      bare,
      () => lib.QUICClient.createQUICClient({ host: '127.0.0.1', port: bareInfo.port, socket, crypto: bareClientCrypto, logger: silentLogger, config: { verifyPeer: false } }),
      (c) => c.destroy({ force: true }),
      warm,
    )
  const mtlsOnce = (warm) =>
    measure(
      mtls,
      () =>
        lib.QUICClient.createQUICClient({
          host: '127.0.0.1',
          port: mtlsInfo.port,
          socket,
          crypto: bareClientCrypto,
          logger: silentLogger,
          config: { key: clientIdentity.privateKeyPem, cert: clientIdentity.certificatePem, verifyPeer: true, verifyCallback: mtlsCheck(clientIdentity) },
        }),
      (c) => c.destroy({ force: true }),
      warm,
    )
  // Warm-up, each arm alike (CONNECT_WARMUP, default 500): V8 optimises the connect path over the first
  // few hundred connects, and Crust's longer path later than bare's.
  for (let i = 0; i < Number(process.env.CONNECT_WARMUP ?? 500); i++) {
    await crustOnce(true)
    await bareOnce(true)
    if (withMtls) await mtlsOnce(true)
  }
  const serverCpu = async (child) => {
    const { cpu } = await child.call({ cmd: 'cpu' })
    return cpu.user + cpu.system
  }
  for (let i = 0; i < total; i += BATCH) {
    const arms = withMtls ? [crustOnce, bareOnce, mtlsOnce] : [crustOnce, bareOnce]
    const turn = i / BATCH
    // Rotate which arm goes first, so none always runs right after another.
    const order = process.env.CONNECT_ONLY === 'crust' ? [crustOnce] : arms.map((_, k) => arms[(k + turn) % arms.length])
    for (const once of order) {
      const [stats, child] = once === crustOnce ? [crust, crustServer] : once === bareOnce ? [bare, bareServer] : [mtls, mtlsServer]
      const before = await serverCpu(child)
      for (let j = 0; j < BATCH; j++) await once(false)
      stats.serverCpu = (stats.serverCpu ?? 0) + (await serverCpu(child)) - before
    }
  }
  if (withMtls) {
    const m = median(mtls.times)
    process.stderr.write(
      `bare with mutual TLS and Crust's certificate check: ${m.toFixed(2)} ms; CPU µs/connect ${(mtls.cpu / mtls.times.length).toFixed(0)} + ${(mtls.serverCpu / mtls.times.length).toFixed(0)}\n`,
    )
  }
  const c = median(crust.times)
  const b = bare.times.length > 0 ? median(bare.times) : Number.NaN
  process.stderr.write(
    `connect median: crust ${c.toFixed(2)} ms, bare ${b.toFixed(2)} ms, ratio ${(c / b).toFixed(2)}; CPU µs/connect (client + server, close included on the server): crust ${(crust.cpu / crust.times.length).toFixed(0)} + ${(crust.serverCpu / crust.times.length).toFixed(0)}, bare ${(bare.cpu / bare.times.length).toFixed(0)} + ${(bare.serverCpu / bare.times.length).toFixed(0)}\n`,
  )
  await node.stop()
  await socket.stop({ force: true })
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`)
  exitCode = 1
} finally {
  await Promise.all([crustServer.stop(), bareServer.stop(), mtlsServer?.stop()])
}
process.exit(exitCode)
