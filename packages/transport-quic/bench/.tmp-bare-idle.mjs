// throw-away: RSS / heap per idle connection on a bare listener: published @matrixai/quic or @crust/quic-lib, default config
import { fork } from 'node:child_process'
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createIdentity } from '@crust/core/plugin'
const N = Number(process.argv[2] ?? 300)
const which = process.argv[3] ?? 'published'
const entry = fileURLToPath(import.meta.resolve(which === 'published' ? '@matrixai/quic' : '@crust/quic-lib'))
const lib = await import(pathToFileURL(entry).href)
const silent = { debug() {}, info() {}, warn() {}, error() {}, getChild: () => silent }
if (process.argv[4] === 'client') {
  const port = Number(process.argv[5])
  const socket = new lib.QUICSocket({ logger: silent }); await socket.start({ host: '127.0.0.1', port: 0 })
  const cs = []
  for (let i = 0; i < N; i++) cs.push(await lib.QUICClient.createQUICClient({ host: '127.0.0.1', port, socket, logger: silent, crypto: { ops: { randomBytes: async (a) => void randomFillSync(new Uint8Array(a)) } }, config: { verifyPeer: false, maxIdleTimeout: 60000, keepAliveIntervalTime: 10000 } }))
  process.send('up')
  process.on('message', async () => { process.exit(0) })
} else {
  const { identity } = await createIdentity({})
  const key = randomFillSync(Buffer.alloc(32)); const ab = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
  const mac = (k, d) => createHmac('sha256', Buffer.from(k)).update(Buffer.from(d)).digest()
  const socket = new lib.QUICSocket({ logger: silent }); await socket.start({ host: '127.0.0.1', port: 0 })
  const server = new lib.QUICServer({ socket, logger: silent, crypto: { key: ab(key), ops: { sign: async (k, d) => ab(mac(k, d)), verify: async (k, d, s) => timingSafeEqual(mac(k, d), Buffer.from(s)) } }, config: { key: identity.privateKeyPem, cert: identity.certificatePem, maxIdleTimeout: 60000, keepAliveIntervalTime: 10000 } })
  await server.start()
  const mem = async () => { for (let i = 0; i < 2; i++) { global.gc(); await new Promise((r) => setTimeout(r, 50)) } const u = process.memoryUsage(); return { rss: u.rss, heap: u.heapUsed + u.external } }
  const m0 = await mem()
  const child = fork(fileURLToPath(import.meta.url), [String(N), which, 'client', String(socket.port)])
  await new Promise((r) => child.once('message', r))
  await new Promise((r) => setTimeout(r, 1000))
  const m1 = await mem()
  const c0 = process.cpuUsage(); const t0 = performance.now()
  await new Promise((r) => setTimeout(r, 2000))
  const c1 = process.cpuUsage(c0); const el = performance.now() - t0
  console.log(`${which}: ${N} conns: RSS ${((m1.rss - m0.rss) / N / 1024).toFixed(0)} KB/conn, heap+external ${((m1.heap - m0.heap) / N / 1024).toFixed(0)} KB/conn; idle CPU ${(((c1.user + c1.system) / 1000 / el) * 100 * 2000 / N).toFixed(2)} % of a core scaled to 2000 (keep-alive 10 s both ends)`)
  child.send('stop'); await new Promise((r) => child.once('exit', r))
  process.exit(0)
}
