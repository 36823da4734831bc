// Head-of-line blocking under loss: request latency of 1 KiB requests over
// the message channel (ALPN crust/3, the default) against native QUIC streams
// (the client offers only crust/1: `quic({ messageChannel: false })`),
// through a UDP proxy on loopback that drops a share of datagrams each way.
//
//   npx tsc -b && node packages/transport-quic/bench/loss-latency.mjs
//
// Per mode and run: REQUESTS requests of 1 KiB with IN_FLIGHT in flight,
// alone, then again while the same connection carries 4 MiB requests back to
// back (a large transfer on native streams). The modes alternate run by run.
// One JSON document on stdout (latencies in ms: p50, p90, p99, max).
//
// Environment: LOSS (default 0.05), REQUESTS (default 2000), IN_FLIGHT
// (default 16), RUNS (default 2).
import { createNode } from '@crust/core'
import { pathProxy } from '@crust/core/testing'
import { quic } from '../dist/index.js'

const LOSS = Number(process.env.LOSS ?? 0.05)
const REQUESTS = Number(process.env.REQUESTS ?? 2000)
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 16)
const RUNS = Number(process.env.RUNS ?? 2)
const log = (line) => process.stderr.write(`[loss-latency] ${line}\n`)

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
const summary = (latencies) => {
  const sorted = [...latencies].sort((a, b) => a - b)
  const r = (v) => Number(v.toFixed(2))
  return { p50: r(percentile(sorted, 0.5)), p90: r(percentile(sorted, 0.9)), p99: r(percentile(sorted, 0.99)), max: r(sorted.at(-1)) }
}

async function requests(conn, payload) {
  const latencies = []
  let next = 0
  const worker = async () => {
    while (next < REQUESTS) {
      next++
      const started = performance.now()
      await conn.request(payload)
      latencies.push(performance.now() - started)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  return latencies
}

async function run(server, channel) {
  const proxy = await pathProxy('udp', Number(server.addresses[0].split(':').at(-1)))
  const client = await createNode({
    networkName: 'loss-bench',
    role: 'client',
    logLevel: 'silent',
    bootstrap: { cache: false },
    maxMessageSize: 16 * 1024 * 1024,
    connection: { requestTimeout: 60_000 },
    transports: [quic({ host: '127.0.0.1', messageChannel: channel })],
  })
  await client.start()
  try {
    const conn = await client.connect({ peerId: server.peerId, addresses: [`quic://127.0.0.1:${proxy.port}`] })
    const small = Buffer.alloc(1024, 7)
    await requests(conn, small) // warm-up, without loss
    proxy.loss = LOSS
    const alone = await requests(conn, small)
    let transferring = true
    let transferred = 0
    const large = Buffer.alloc(4 * 1024 * 1024, 9)
    const transfer = (async () => {
      while (transferring) {
        await conn.request(large)
        transferred += large.length
      }
    })()
    const started = performance.now()
    const withTransfer = await requests(conn, small)
    const seconds = (performance.now() - started) / 1000
    transferring = false
    await transfer
    const dropped = proxy.dropped
    proxy.loss = 0
    return {
      alone: summary(alone),
      withTransfer: { ...summary(withTransfer), transferMBps: Number((transferred / 1e6 / seconds).toFixed(1)) },
      datagramsDropped: dropped,
    }
  } finally {
    await client.stop()
    await proxy.close()
  }
}

const server = await createNode({
  networkName: 'loss-bench',
  logLevel: 'silent',
  bootstrap: { cache: false },
  maxMessageSize: 16 * 1024 * 1024,
  connection: { requestTimeout: 60_000 },
  transports: [quic({ host: '127.0.0.1' })],
})
await server.start()
server.handle((m) => (m.isRequest ? Buffer.from([1]) : undefined))
const results = { channel: [], native: [] }
try {
  for (let i = 0; i < RUNS; i++) {
    for (const mode of i % 2 === 0 ? ['channel', 'native'] : ['native', 'channel']) {
      log(`run ${i + 1}: ${mode}`)
      results[mode].push(await run(server, mode === 'channel'))
    }
  }
} finally {
  await server.stop()
}
process.stdout.write(`${JSON.stringify({ loss: LOSS, requests: REQUESTS, inFlight: IN_FLIGHT, requestBytes: 1024, results }, null, 2)}\n`)
