// `pnpm bench`: Crust over TCP against a raw node:tls baseline, on loopback.
//
// Every scenario measures both implementations (`crust-tcp`, `raw-tls`), with
// the server side in a child process (bench/server.mjs) so that client and
// server each get a core; throughput, messages and connect alternate the two
// run by run. One JSON document goes to stdout and to
// bench-results.json at the repository root; progress goes to stderr.
// Exit code: 0 when every scenario ran (whether or not targets were met),
// 1 on an actual error. Child processes are always killed before exiting.
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { MAX_MESSAGE_SIZE, MiB, NETWORK, RawClient, rawTlsOptions } from './common.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const RESULTS_FILE = join(here, '..', 'bench-results.json')
const ALL_IMPLS = ['crust-tcp', 'raw-tls']
// BENCH_IMPLS=crust-tcp measures one side only (for profiling); ratios are then null.
const IMPLS = process.env.BENCH_IMPLS ? process.env.BENCH_IMPLS.split(',').map((s) => s.trim()) : ALL_IMPLS
for (const impl of IMPLS) if (!ALL_IMPLS.includes(impl)) throw new Error(`BENCH_IMPLS: unknown implementation ${impl}`)

const CONFIG = {
  throughput: { messageBytes: 64 * MiB, warmupBytes: 4 * MiB, runs: 3 },
  messages: { messageBytes: 1024, count: 10_000, inFlight: 64, warmup: 1_000, runs: 3 },
  sends: { messageBytes: 1024, count: 10_000, inFlight: 64, warmup: 1_000, runs: 3 },
  connect: { connections: 50, warmup: 3 },
  // Requests by size and concurrency: one run of each point, so the curve is visible (the QUIC suite has the same).
  curve: { points: [[1024, 1], [1024, 64], [1024, 256], [65536, 1], [65536, 64], [65536, 256]], count: { 1024: 5_000, 65536: 1_000 }, warmup: 300 },
  idleMemory: { connections: 200, warmupConnections: 5, connectConcurrency: 8 },
}
const SCENARIO_TIMEOUT_MS = 90_000

const log = (line) => process.stderr.write(`[bench] ${line}\n`)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}
const round = (value, digits = 2) => Number(value.toFixed(digits))

// ---- Server children. ----

const children = new Set()

function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
}

/** Fork bench/server.mjs, start `impl` in it, run `body(server)`, then stop and reap the child. */
async function withServer(impl, body) {
  const child = fork(join(here, 'server.mjs'), [], {
    // BENCH_SERVER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server side.
    execArgv: ['--expose-gc', ...(process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)],
    stdio: ['ignore', 2, 2, 'ipc'], // the child's stdout must not pollute our JSON
  })
  children.add(child)
  let nextId = 0
  const pending = new Map()
  let exited = null
  child.on('message', (reply) => {
    const waiter = pending.get(reply.id)
    if (!waiter) return
    pending.delete(reply.id)
    if (reply.ok) waiter.resolve(reply)
    else waiter.reject(new Error(`server (${impl}): ${reply.error}`))
  })
  child.on('exit', (code, signal) => {
    exited = new Error(`server child (${impl}) exited early (code ${code}, signal ${signal})`)
    for (const waiter of pending.values()) waiter.reject(exited)
    pending.clear()
  })
  child.on('error', (error) => {
    for (const waiter of pending.values()) waiter.reject(error)
    pending.clear()
  })
  const call = (message) =>
    new Promise((resolve, reject) => {
      if (exited) return reject(exited)
      const id = ++nextId
      pending.set(id, { resolve, reject })
      child.send({ ...message, id })
    })
  try {
    const info = await call({ cmd: 'start', impl })
    return await body({ info, call })
  } finally {
    await Promise.race([call({ cmd: 'stop' }).catch(() => {}), sleep(3000)])
    child.removeAllListeners('exit')
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.disconnect?.()
      await Promise.race([gone, sleep(1000)])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    children.delete(child)
  }
}

// ---- Clients. ----

let rawClientOptions

function crustClientNode() {
  return createNode({
    networkName: NETWORK,
    role: 'client', // no listener
    bootstrap: { cache: false },
    transports: [tcp({ host: '127.0.0.1' })],
    maxMessageSize: MAX_MESSAGE_SIZE,
  })
}

/**
 * A client for `impl` connected to the server described by `info`:
 * `{ request(payload): Promise<reply>, send(payload): Promise<acknowledged>, close() }`.
 */
async function openClient(impl, info) {
  if (impl === 'crust-tcp') {
    const node = await crustClientNode()
    await node.start()
    const conn = await node.connect({ peerId: info.peerId, addresses: info.addresses })
    return { request: (payload) => conn.request(payload), send: (payload) => conn.send(payload), close: () => node.stop() }
  }
  const client = await RawClient.connect(info.port, rawClientOptions)
  // The raw server answers every frame with a 1-byte frame: its acknowledged send is a request.
  const request = (payload) => client.request(payload)
  return { request, send: request, close: () => client.close() }
}

/** Run `total` requests of `payload`, at most `inFlight` outstanding; resolve to the elapsed ms. */
async function requestBatch(request, payload, total, inFlight) {
  let issued = 0
  const worker = async () => {
    while (issued < total) {
      issued++
      await request(payload)
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker))
  return performance.now() - start
}

async function withTimeout(label, promise) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} did not finish within ${SCENARIO_TIMEOUT_MS} ms`)), SCENARIO_TIMEOUT_MS)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

// ---- Scenarios. ----

/** Start a server child per implementation and run `body({ [impl]: server })`; children are always reaped. */
async function withServers(body, impls = IMPLS, started = {}) {
  if (impls.length === 0) return body(started)
  const [impl, ...rest] = impls
  return withServer(impl, (server) => withServers(body, rest, { ...started, [impl]: server }))
}

/** Clients for every implementation, connected to `servers`; closed after `body`. */
async function withClients(servers, body) {
  const clients = {}
  try {
    for (const impl of IMPLS) clients[impl] = await openClient(impl, servers[impl].info)
    return await body(clients)
  } finally {
    await Promise.allSettled(Object.values(clients).map((client) => client.close()))
  }
}

/**
 * Run `work()` and measure the CPU time it cost on each side (client: this
 * process; server: the child), which the other load on a shared machine
 * disturbs less than wall-clock rates. The IPC calls lie outside `work`.
 */
async function withCpu(server, work) {
  const serverBefore = await server.call({ cmd: 'cpu' })
  const clientBefore = process.cpuUsage()
  const value = await work()
  const client = process.cpuUsage(clientBefore)
  const serverAfter = await server.call({ cmd: 'cpu' })
  return { value, clientMicros: client.user + client.system, serverMicros: serverAfter.micros - serverBefore.micros }
}

// Throughput, messages and connect interleave the two implementations run by
// run (both servers are up at once), so that load from elsewhere on the machine
// hits both alike and the ratio stays meaningful.

async function throughput() {
  const { messageBytes, warmupBytes, runs } = CONFIG.throughput
  return withServers((servers) =>
    withClients(servers, async (clients) => {
      const payload = Buffer.alloc(messageBytes, 0x61)
      const result = {}
      for (const impl of IMPLS) {
        await clients[impl].request(payload.subarray(0, warmupBytes))
        result[impl] = { MBps: 0, runsMBps: [], cpu: { client: [], server: [] } }
      }
      const MB = messageBytes / 1e6
      for (let i = 0; i < runs; i++) {
        for (const impl of IMPLS) {
          const run = await withCpu(servers[impl], async () => {
            const start = performance.now()
            await clients[impl].request(payload)
            return performance.now() - start
          })
          const ms = run.value
          const r = result[impl]
          r.runsMBps.push(round(MB / (ms / 1000), 1))
          r.cpu.client.push(run.clientMicros / 1000 / MB)
          r.cpu.server.push(run.serverMicros / 1000 / MB)
          log(`throughput ${impl} run ${i + 1}: ${r.runsMBps.at(-1)} MB/s (${ms.toFixed(0)} ms)`)
        }
      }
      for (const impl of IMPLS) {
        const r = result[impl]
        r.MBps = median(r.runsMBps)
        r.cpuMsPerMB = { client: round(median(r.cpu.client), 3), server: round(median(r.cpu.server), 3) }
        delete r.cpu
      }
      return result
    }),
  )
}

/** `count` 1 KiB operations (`request` or acknowledged `send`), `inFlight` outstanding, per implementation. */
async function messages(operation = 'request') {
  const name = operation === 'request' ? 'messages' : 'sends'
  const { messageBytes, count, inFlight, warmup, runs } = CONFIG[name]
  return withServers((servers) =>
    withClients(servers, async (clients) => {
      const payload = Buffer.alloc(messageBytes, 0x62)
      const result = {}
      for (const impl of IMPLS) {
        await requestBatch(clients[impl][operation], payload, warmup, inFlight)
        result[impl] = { messagesPerSecond: 0, runsPerSecond: [], cpu: { client: [], server: [] } }
      }
      for (let i = 0; i < runs; i++) {
        for (const impl of IMPLS) {
          const run = await withCpu(servers[impl], () => requestBatch(clients[impl][operation], payload, count, inFlight))
          const ms = run.value
          const r = result[impl]
          r.runsPerSecond.push(Math.round(count / (ms / 1000)))
          r.cpu.client.push(run.clientMicros / count)
          r.cpu.server.push(run.serverMicros / count)
          log(
            `${name} ${impl} run ${i + 1}: ${r.runsPerSecond.at(-1)} msg/s (${ms.toFixed(0)} ms; CPU/msg ` +
              `client ${r.cpu.client.at(-1).toFixed(1)} us, server ${r.cpu.server.at(-1).toFixed(1)} us)`,
          )
        }
      }
      for (const impl of IMPLS) {
        const r = result[impl]
        r.messagesPerSecond = median(r.runsPerSecond)
        r.cpuMicrosPerMessage = { client: round(median(r.cpu.client), 2), server: round(median(r.cpu.server), 2) }
        delete r.cpu
      }
      return result
    }),
  )
}

/** Requests per second for each (size, in flight) point of `CONFIG.curve`, implementations alternating. */
async function curve() {
  const { points, count, warmup } = CONFIG.curve
  return withServers((servers) =>
    withClients(servers, async (clients) => {
      const result = Object.fromEntries(IMPLS.map((impl) => [impl, {}]))
      for (const [bytes, inFlight] of points) {
        const payload = Buffer.alloc(bytes, 0x62)
        for (const impl of IMPLS) {
          await requestBatch(clients[impl].request, payload, warmup, inFlight)
          const run = await withCpu(servers[impl], () => requestBatch(clients[impl].request, payload, count[bytes], inFlight))
          const key = `${bytes / 1024}KiB-x${inFlight}`
          result[impl][key] = {
            requestsPerSecond: Math.round(count[bytes] / (run.value / 1000)),
            cpuMicrosPerRequest: { client: round(run.clientMicros / count[bytes], 1), server: round(run.serverMicros / count[bytes], 1) },
          }
          log(`curve ${impl} ${key}: ${result[impl][key].requestsPerSecond} req/s`)
        }
      }
      return result
    }),
  )
}

async function connect() {
  const { connections, warmup } = CONFIG.connect
  return withServers(async (servers) => {
    const crustInfo = servers['crust-tcp']?.info
    const node = crustInfo ? await crustClientNode() : undefined
    await node?.start()
    const contact = crustInfo && { peerId: crustInfo.peerId, addresses: crustInfo.addresses }
    const probe = Buffer.from('p')
    const connectOnce = {
      'crust-tcp': async () => {
        const start = performance.now()
        const conn = await node.connect(contact)
        const ms = performance.now() - start
        await conn.close()
        // The pool must have dropped it, or the next connect() would just reuse it.
        while (node.connections.includes(conn)) await sleep(1)
        return ms
      },
      'raw-tls': async () => {
        const start = performance.now()
        const client = await RawClient.connect(servers['raw-tls']?.info.port, rawClientOptions)
        await client.request(probe)
        const ms = performance.now() - start
        await client.close()
        return ms
      },
    }
    const times = Object.fromEntries(IMPLS.map((impl) => [impl, []]))
    try {
      for (let i = 0; i < warmup + connections; i++) {
        for (const impl of IMPLS) {
          const ms = await connectOnce[impl]()
          if (i >= warmup) times[impl].push(ms)
        }
      }
    } finally {
      await node?.stop()
    }
    const result = {}
    for (const impl of IMPLS) {
      const t = times[impl]
      log(`connect ${impl}: median ${median(t).toFixed(2)} ms`)
      result[impl] = {
        medianMs: round(median(t), 3),
        p90Ms: round(percentile(t, 90), 3),
        minMs: round(Math.min(...t), 3),
        maxMs: round(Math.max(...t), 3),
      }
    }
    return result
  })
}

/** Run `task(i)` for i in [from, to) with at most `concurrency` running at once. */
async function forEachLimited(from, to, concurrency, task) {
  let next = from
  const worker = async () => {
    while (next < to) await task(next++)
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

async function idleMemory(impl) {
  const { connections, warmupConnections, connectConcurrency } = CONFIG.idleMemory
  const total = warmupConnections + connections
  return withServer(impl, async ({ info, call }) => {
    const closers = []
    try {
      let open
      if (impl === 'crust-tcp') {
        // One connection per peer: each connection needs its own client node.
        const nodes = []
        await forEachLimited(0, total, 4, async () => {
          const node = await crustClientNode()
          await node.start()
          nodes.push(node)
          closers.push(() => node.stop())
        })
        const contact = { peerId: info.peerId, addresses: info.addresses }
        open = async (i) => {
          await nodes[i].connect(contact)
        }
      } else {
        const probe = Buffer.from('p')
        open = async () => {
          const client = await RawClient.connect(info.port, rawClientOptions)
          closers.push(() => client.close())
          await client.request(probe)
        }
      }
      // A few connections first, so one-time costs (code, TLS contexts) are not counted per connection.
      await forEachLimited(0, warmupConnections, connectConcurrency, open)
      const before = await call({ cmd: 'memory', expect: warmupConnections })
      await forEachLimited(warmupConnections, total, connectConcurrency, open)
      const after = await call({ cmd: 'memory', expect: total })
      const heap = (m) => m.heapUsed + m.external
      const result = {
        bytesPerConnection: Math.round((after.rss - before.rss) / connections),
        heapBytesPerConnection: Math.round((heap(after) - heap(before)) / connections),
        serverRssBefore: before.rss,
        serverRssAfter: after.rss,
        gcExposed: after.gc,
      }
      log(`idleMemory ${impl}: ${result.bytesPerConnection} B/conn RSS, ${result.heapBytesPerConnection} B/conn heap+external`)
      return result
    } finally {
      await Promise.allSettled(closers.map((close) => close()))
    }
  })
}

// ---- Main. ----

/** Per-implementation memory is measured in a fresh server process each, one at a time. */
async function idleMemoryBoth() {
  const result = {}
  for (const impl of IMPLS) result[impl] = await idleMemory(impl)
  return result
}

const c = CONFIG
const SCENARIOS = {
  throughput: {
    run: throughput,
    ratio: (r) => r['crust-tcp'].MBps / r['raw-tls'].MBps,
    measures:
      `MB/s (10^6 bytes/s), median of ${c.throughput.runs} runs: one ${c.throughput.messageBytes / MiB} MiB message on one stream, ` +
      'timed from the send until the server has received all of it and its 1-byte answer is back ' +
      '(crust-tcp: conn.request(); raw-tls: one 4-byte length-prefixed frame, written in 256 KiB slices, answered by a 1-byte frame). ' +
      'ratio = crust / raw, higher is better.',
  },
  messages: {
    run: messages,
    ratio: (r) => r['crust-tcp'].messagesPerSecond / r['raw-tls'].messagesPerSecond,
    measures:
      `messages/s, median of ${c.messages.runs} runs of ${c.messages.count} requests of ${c.messages.messageBytes} B, ` +
      `${c.messages.inFlight} in flight, after ${c.messages.warmup} warm-up requests; a request is done when its 1-byte answer arrives ` +
      '(crust-tcp: conn.request(), one stream each; raw-tls: length-prefixed frames on one TLS socket, answers matched by order). ' +
      'ratio = crust / raw, higher is better.',
  },
  sends: {
    run: () => messages('send'),
    ratio: (r) => r['crust-tcp'].messagesPerSecond / r['raw-tls'].messagesPerSecond,
    measures:
      `messages/s, median of ${c.sends.runs} runs of ${c.sends.count} sends of ${c.sends.messageBytes} B, ` +
      `${c.sends.inFlight} in flight, after ${c.sends.warmup} warm-up sends; a send is done when the receiver's acknowledgement arrives ` +
      '(crust-tcp: conn.send(), one stream each, resolved by the receiving core\'s ACK; raw-tls: length-prefixed frames answered ' +
      'by a 1-byte frame on one TLS socket). ratio = crust / raw, higher is better.',
  },
  curve: {
    run: curve,
    ratio: (r) => r['crust-tcp']['1KiB-x64'].requestsPerSecond / r['raw-tls']['1KiB-x64'].requestsPerSecond,
    measures:
      `requests/s and CPU µs per request on each side, one run per point: ${c.curve.points.map(([b, f]) => `${b / 1024} KiB x ${f} in flight`).join(', ')} ` +
      `(${Object.entries(c.curve.count).map(([b, n]) => `${n} requests of ${Number(b) / 1024} KiB`).join(', ')}; ${c.curve.warmup} warm-up each), ` +
      'answered by 1 byte. ratio = crust / raw at 1 KiB x 64.',
  },
  connect: {
    run: connect,
    ratio: (r) => r['crust-tcp'].medianMs / r['raw-tls'].medianMs,
    measures: {
      'crust-tcp':
        'node.connect() on a started client node until it resolves: TCP connect, TLS 1.3 handshake with client certificate, ' +
        'peer-id verification, and the Crust HELLO/WELCOME round trip on the first stream. The connection is then closed and ' +
        'dropped from the pool before the next connect.',
      'raw-tls':
        "tls.connect() until 'secureConnect' (TLS 1.3, client certificate, no peer verification) plus one 1-byte " +
        'length-prefixed request/response round trip.',
      summary: `median of ${c.connect.connections} sequential connections after ${c.connect.warmup} warm-up ones; ratio = crust / raw, lower is better.`,
    },
  },
  idleMemory: {
    run: idleMemoryBoth,
    ratio: (r) => r['crust-tcp'].bytesPerConnection / r['raw-tls'].bytesPerConnection,
    measures:
      `server-side RSS growth per idle connection: the server child's RSS (after global.gc) with ${c.idleMemory.warmupConnections} ` +
      `connections open, then with ${c.idleMemory.warmupConnections + c.idleMemory.connections}, divided by ${c.idleMemory.connections}. ` +
      'heapBytesPerConnection is the same for V8 heapUsed + external. crust-tcp: one client node (role client) per connection; ' +
      'raw-tls: plain TLS sockets that each made one request. ratio = crust / raw, lower is better.',
  },
}

const TARGETS = {
  throughputRatio: { scenario: 'throughput', target: '>= 0.7', met: (r) => r.throughput.ratio >= 0.7 },
  messagesPerSecond: { scenario: 'messages', target: '>= 20000', met: (r) => r.messages['crust-tcp'].messagesPerSecond >= 20_000 },
  acknowledgedSendsPerSecond: { scenario: 'sends', target: '>= 50000', met: (r) => r.sends['crust-tcp'].messagesPerSecond >= 50_000 },
  connectRatio: { scenario: 'connect', target: '<= 2', met: (r) => r.connect.ratio <= 2 },
}

async function main() {
  const startedAt = new Date()
  const t0 = performance.now()
  // BENCH_ONLY=messages,connect runs a subset (for development); `pnpm bench` runs everything.
  const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter(Boolean)
  for (const name of only ?? []) if (!(name in SCENARIOS)) throw new Error(`BENCH_ONLY: unknown scenario ${name}`)
  rawClientOptions = await rawTlsOptions('client')
  const results = {}
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    if (only && !only.includes(name)) continue
    log(`${name} (${IMPLS.join(' vs ')}) ...`)
    const result = await withTimeout(name, scenario.run())
    const ratio = ALL_IMPLS.every((impl) => impl in result) ? round(scenario.ratio(result), 3) : null
    results[name] = { ...result, ratio, measures: scenario.measures }
  }
  const pass = {}
  for (const [name, target] of Object.entries(TARGETS)) {
    const measured = results[target.scenario]
    if (measured && measured.ratio !== null) pass[name] = target.met(results)
  }
  pass.all = Object.values(pass).every(Boolean)

  const cpus = os.cpus()
  return {
    machine: {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      totalMemoryMiB: Math.round(os.totalmem() / MiB),
      loadAverage: os.loadavg().map((l) => round(l, 2)),
    },
    startedAt: startedAt.toISOString(),
    durationSeconds: round((performance.now() - t0) / 1000, 1),
    setup: 'loopback 127.0.0.1; server side in a child process (bench/server.mjs), client side in this process',
    ...(only || IMPLS !== ALL_IMPLS ? { partial: { scenarios: only ?? Object.keys(SCENARIOS), implementations: IMPLS } } : {}),
    config: CONFIG,
    results,
    targets: Object.fromEntries(Object.entries(TARGETS).map(([name, t]) => [name, t.target])),
    pass,
  }
}

process.on('exit', killChildren)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killChildren()
    process.exit(130)
  })
}

try {
  const report = await main()
  const json = JSON.stringify(report, null, 2)
  writeFileSync(RESULTS_FILE, `${json}\n`)
  process.stdout.write(`${json}\n`)
  const verdict = report.pass.all ? 'all met' : `NOT all met: ${Object.keys(report.pass).filter((k) => !report.pass[k]).join(', ')}`
  log(`written to ${RESULTS_FILE}; targets ${verdict} (reported, not asserted)${report.partial ? ' [partial run]' : ''}`)
  killChildren()
  process.exit(0)
} catch (error) {
  log(`error: ${error?.stack ?? error}`)
  killChildren()
  process.exit(1)
}
