// Stream benchmarks (`pnpm bench` suite `streams`): Crust application streams
// over TCP and over QUIC, each against the same run's single-large-message
// figure on the same transport, on loopback.
//
//   bulk     one 64 MiB conn.request() (the large-message baseline), median of 3
//   stream   one CrustStream of 1 GiB (node.openStream, written with backpressure,
//            read and dropped by the receiver, which answers 1 byte at the end);
//            the receiving process's RSS is sampled every 20 ms: growth = peak - before
//   streams  10,000 streams opened and closed, 1 KiB each way (open, write 1 KiB,
//            end; the receiver answers 1 KiB and ends), 32 in flight, median of 3
//
// The server side runs in a child process (this file with argument `server`).
// One JSON document on stdout, progress on stderr.
// Environment: BENCH_TRANSPORTS=tcp,quic; BENCH_STREAMS_ONLY=bulk,stream,streams;
// BENCH_STREAM_GIB (default 1).
import { fork } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { createNode } from '@crust/core'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'

const MiB = 1024 * 1024
const NETWORK = 'crust-bench-streams'
const SINK = '/bench/sink/1'
const ECHO = '/bench/echo/1'
const REPLY = Buffer.from('k')
const CONFIG = {
  bulk: { messageBytes: 64 * MiB, warmupBytes: 4 * MiB, runs: 3 },
  stream: { bytes: Number(process.env.BENCH_STREAM_GIB ?? 1) * 1024 * MiB, writeBytes: 256 * 1024, rssSampleMs: 20, targetRssGrowthMiB: 64 },
  streams: { count: 10_000, bytesEachWay: 1024, inFlight: 32, warmup: 1_000, runs: 3 },
}
const TRANSPORTS = { tcp: () => tcp({ host: '127.0.0.1' }), quic: () => quic({ host: '127.0.0.1' }) }
const STALL_MS = 120_000

const log = (line) => process.stderr.write(`[streams] ${line}\n`)
const round = (value, digits = 2) => Number(value.toFixed(digits))
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function deadline(promise, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${STALL_MS} ms`)), STALL_MS)
    }),
  ])
}

/** Read a stream to its end, counting bytes. */
async function drain(stream) {
  let bytes = 0
  for await (const chunk of stream) bytes += chunk.byteLength
  return bytes
}

// ---- Server child. ----

async function serve() {
  let node
  let sampler
  const handlers = {
    async start({ transport }) {
      node = await createNode({
        networkName: NETWORK,
        bootstrap: { cache: false },
        transports: [TRANSPORTS[transport]()],
        maxMessageSize: 128 * MiB,
        logLevel: 'error',
      })
      node.handle((message) => (message.isRequest ? REPLY : undefined))
      // The bench's own protocol limits: 32 streams in flight plus those still closing.
      node.handleStream(SINK, async (stream) => {
        await drain(stream)
        stream.end(REPLY)
      })
      node.handleStream(
        ECHO,
        async (stream) => {
          const bytes = await drain(stream)
          stream.end(Buffer.alloc(bytes, 0x65))
        },
        { maxStreamsPerPeer: 256 },
      )
      await node.start()
      return { peerId: node.peerId, addresses: node.addresses }
    },
    cpu() {
      const { user, system } = process.cpuUsage()
      return { micros: user + system }
    },
    rssStart() {
      global.gc?.()
      global.gc?.()
      const before = process.memoryUsage().rss
      sampler = { before, peak: before, timer: setInterval(() => (sampler.peak = Math.max(sampler.peak, process.memoryUsage.rss())), CONFIG.stream.rssSampleMs) }
      return { before }
    },
    rssStop() {
      clearInterval(sampler.timer)
      const peak = Math.max(sampler.peak, process.memoryUsage().rss)
      return { before: sampler.before, peak }
    },
    async stop() {
      await node?.stop()
      return {}
    },
  }
  process.on('message', (message) => {
    Promise.resolve()
      .then(() => handlers[message.cmd](message))
      .then(
        (result) => process.send({ id: message.id, ok: true, ...result }),
        (error) => process.send({ id: message.id, ok: false, error: String(error?.stack ?? error) }),
      )
  })
  process.on('disconnect', () => process.exit(0))
}

// ---- Client. ----

async function withServer(transport, body) {
  // BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server side.
  const execArgv = ['--expose-gc', ...(process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)]
  const child = fork(fileURLToPath(import.meta.url), ['server'], { execArgv, stdio: ['ignore', 2, 2, 'ipc'] })
  let nextId = 0
  const pending = new Map()
  child.on('message', (reply) => {
    const waiter = pending.get(reply.id)
    pending.delete(reply.id)
    if (reply.ok) waiter?.resolve(reply)
    else waiter?.reject(new Error(`server: ${reply.error}`))
  })
  child.on('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`server child exited (${code})`))
    pending.clear()
  })
  const call = (cmd, extra = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId
      pending.set(id, { resolve, reject })
      child.send({ id, cmd, ...extra })
    })
  try {
    const info = await call('start', { transport })
    return await body(info, call)
  } finally {
    await Promise.race([call('stop').catch(() => {}), new Promise((r) => setTimeout(r, 3000))])
    // A clean exit (it writes a --cpu-prof profile), else killed.
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.disconnect()
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

async function cpuOf(call, work) {
  const before = (await call('cpu')).micros
  const client = process.cpuUsage()
  const value = await work()
  const used = process.cpuUsage(client)
  return { value, clientMicros: used.user + used.system, serverMicros: (await call('cpu')).micros - before }
}

async function bulk(conn, call) {
  const { messageBytes, warmupBytes, runs } = CONFIG.bulk
  const payload = Buffer.alloc(messageBytes, 0x61)
  await conn.request(payload.subarray(0, warmupBytes))
  const runsMBps = []
  const cpu = { client: [], server: [] }
  const MB = messageBytes / 1e6
  for (let i = 0; i < runs; i++) {
    const run = await cpuOf(call, async () => {
      const start = performance.now()
      await deadline(conn.request(payload), 'bulk request')
      return performance.now() - start
    })
    runsMBps.push(round(MB / (run.value / 1000), 1))
    cpu.client.push(run.clientMicros / 1000 / MB)
    cpu.server.push(run.serverMicros / 1000 / MB)
    log(`bulk run ${i + 1}: ${runsMBps.at(-1)} MB/s`)
  }
  return { MBps: median(runsMBps), runsMBps, cpuMsPerMB: { client: round(median(cpu.client), 3), server: round(median(cpu.server), 3) } }
}

/** Resolves when `stream` takes writes again; rejects if it closes first. */
function drained(stream) {
  if (stream.destroyed) return Promise.reject(stream.errored ?? new Error('stream closed'))
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.off('close', onClose)
      resolve()
    }
    const onClose = () => {
      stream.off('drain', onDrain)
      reject(stream.errored ?? new Error('stream closed'))
    }
    stream.once('drain', onDrain)
    stream.once('close', onClose)
  })
}

/** Write `bytes` into a new sink stream with backpressure; resolve once the receiver answered. */
async function sendStream(node, peerId, bytes) {
  const { writeBytes } = CONFIG.stream
  const block = Buffer.alloc(writeBytes, 0x73)
  const stream = await node.openStream(peerId, SINK)
  for (let sent = 0; sent < bytes; sent += writeBytes) {
    if (!stream.write(sent + writeBytes <= bytes ? block : block.subarray(0, bytes - sent))) await drained(stream)
  }
  stream.end()
  const answer = await drain(stream)
  if (answer !== 1) throw new Error(`sink answered ${answer} bytes`)
}

async function oneStream(node, peerId, call) {
  const { bytes } = CONFIG.stream
  await sendStream(node, peerId, 64 * MiB) // warm-up
  const { before } = await call('rssStart')
  const run = await cpuOf(call, async () => {
    const start = performance.now()
    await deadline(sendStream(node, peerId, bytes), 'the 1 GiB stream')
    return performance.now() - start
  })
  const { peak } = await call('rssStop')
  const MB = bytes / 1e6
  const result = {
    bytes,
    MBps: round(MB / (run.value / 1000), 1),
    cpuMsPerMB: { client: round(run.clientMicros / 1000 / MB, 3), server: round(run.serverMicros / 1000 / MB, 3) },
    receiverRssBeforeMiB: round(before / MiB, 1),
    receiverRssPeakMiB: round(peak / MiB, 1),
    receiverRssGrowthMiB: round((peak - before) / MiB, 1),
  }
  log(`stream of ${bytes / MiB} MiB: ${result.MBps} MB/s, receiver RSS +${result.receiverRssGrowthMiB} MiB`)
  return result
}

async function manyStreams(conn, call) {
  const { count, bytesEachWay, inFlight, warmup, runs } = CONFIG.streams
  const payload = Buffer.alloc(bytesEachWay, 0x71)
  const batch = async (total) => {
    let issued = 0
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (issued < total) {
          issued++
          const stream = await conn.openStream(ECHO)
          stream.end(payload)
          const got = await drain(stream)
          if (got !== bytesEachWay) throw new Error(`echo answered ${got} bytes`)
        }
      }),
    )
  }
  await batch(warmup)
  const runsPerSecond = []
  const cpu = { client: [], server: [] }
  for (let i = 0; i < runs; i++) {
    const run = await cpuOf(call, async () => {
      const start = performance.now()
      await deadline(batch(count), 'streams batch')
      return performance.now() - start
    })
    runsPerSecond.push(Math.round(count / (run.value / 1000)))
    cpu.client.push(run.clientMicros / count)
    cpu.server.push(run.serverMicros / count)
    log(`streams run ${i + 1}: ${runsPerSecond.at(-1)} streams/s (CPU/stream client ${cpu.client.at(-1).toFixed(1)} us, server ${cpu.server.at(-1).toFixed(1)} us)`)
  }
  return {
    streamsPerSecond: median(runsPerSecond),
    runsPerSecond,
    cpuMicrosPerStream: { client: round(median(cpu.client), 1), server: round(median(cpu.server), 1) },
  }
}

async function benchTransport(transport, only) {
  return withServer(transport, async (info, call) => {
    const node = await createNode({
      networkName: NETWORK,
      role: 'client',
      bootstrap: { cache: false },
      transports: [TRANSPORTS[transport]()],
      maxMessageSize: 128 * MiB,
      logLevel: 'error',
    })
    await node.start()
    try {
      const conn = await node.connect({ peerId: info.peerId, addresses: info.addresses })
      const result = {}
      if (only.includes('bulk')) result.bulk = await bulk(conn, call)
      if (only.includes('stream')) result.stream = await oneStream(node, info.peerId, call)
      if (only.includes('streams')) result.streams = await manyStreams(conn, call)
      if (result.bulk && result.stream) result.streamVsBulk = round(result.stream.MBps / result.bulk.MBps, 3)
      return result
    } finally {
      await node.stop()
    }
  })
}

async function main() {
  const startedAt = new Date()
  const t0 = performance.now()
  const transports = (process.env.BENCH_TRANSPORTS ?? 'tcp,quic').split(',').filter((t) => t in TRANSPORTS)
  const only = (process.env.BENCH_STREAMS_ONLY ?? 'bulk,stream,streams').split(',')
  const results = {}
  for (const transport of transports) {
    log(`${transport} ...`)
    results[transport] = await benchTransport(transport, only)
  }
  const pass = {}
  if (results.tcp?.streams) pass.tcpStreamsPerSecond = results.tcp.streams.streamsPerSecond >= 20_000
  for (const t of transports) {
    if (results[t].streamVsBulk !== undefined) pass[`${t}StreamVsBulk`] = results[t].streamVsBulk >= 0.9
    if (results[t].stream) pass[`${t}ReceiverRss`] = results[t].stream.receiverRssGrowthMiB < CONFIG.stream.targetRssGrowthMiB
  }
  pass.all = Object.values(pass).every(Boolean)
  return {
    machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: os.loadavg().map((l) => round(l, 2)) },
    startedAt: startedAt.toISOString(),
    durationSeconds: round((performance.now() - t0) / 1000, 1),
    config: CONFIG,
    results,
    targets: { tcpStreamsPerSecond: '>= 20000', streamVsBulk: '>= 0.9 (stream MB/s / bulk MB/s, same transport)', receiverRss: `< ${CONFIG.stream.targetRssGrowthMiB} MiB growth` },
    pass,
  }
}

if (process.argv[2] === 'server') {
  await serve()
} else {
  try {
    process.stdout.write(`${JSON.stringify(await main(), null, 2)}\n`)
    process.exit(0)
  } catch (error) {
    log(`error: ${error?.stack ?? error}`)
    process.exit(1)
  }
}
