// `pnpm bench:rendezvous`: rendezvous toward internet scale, by simulation (issue 17).
// 1,000 nodes (real CrustNodes with the real rendezvous() client, role client,
// TCP + TLS 1.3 on loopback, many per worker process) in 50 topics register
// with 3 rendezvous servers (real rendezvousServer() nodes, one process each).
// After the ramp-up, 5 % of the nodes leave and as many new ones join each
// minute, for a few minutes. Measured:
//   - how long until each node knows the live peers of its topic (peer:discovered),
//     and until the live peers of its topic know a newcomer;
//   - stale records served: a probe walks every topic on every server every 10 s
//     and counts records of peers that have already left;
//   - server CPU per request and memory per registration (each server process
//     reports process.cpuUsage() and memoryUsage()), and the registry alone.
// Not in `pnpm bench` (it runs for minutes). One JSON document on stdout (and
// bench-rendezvous-results.json at the repository root), progress on stderr.
// Environment: BENCH_RV_NODES (1000), BENCH_RV_TOPICS (50), BENCH_RV_SERVERS (3),
// BENCH_RV_WORKERS (4), BENCH_RV_MINUTES (3, the churn phase), BENCH_RV_CHURN
// (0.05 per minute), BENCH_RV_JOIN_RATE (25 nodes/s in the ramp-up).
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createNode } from '@crust/core'
import { hashNetworkName } from '@crust/core/plugin'
import { newSigningIdentity } from '@crust/core/testing'
import { RENDEZVOUS_PROTOCOL, rendezvous, rendezvousServer, signRecord } from '@crust/discovery-rendezvous'
import { tcp } from '@crust/transport-tcp'

const NETWORK = 'rendezvous-sim'
const RESULTS_FILE = fileURLToPath(new URL('../bench-rendezvous-results.json', import.meta.url))
const env = (name, fallback) => Number(process.env[name] ?? fallback)
const NODES = env('BENCH_RV_NODES', 1000)
const TOPICS = env('BENCH_RV_TOPICS', 50)
const SERVERS = env('BENCH_RV_SERVERS', 3)
const WORKERS = env('BENCH_RV_WORKERS', 4)
const MINUTES = env('BENCH_RV_MINUTES', 3)
const CHURN = env('BENCH_RV_CHURN', 0.05)
const JOIN_RATE = env('BENCH_RV_JOIN_RATE', 25)
const PROBE_MS = 10_000
const CALL_TIMEOUT = 30_000
/** The client's default: each node discovers its topic again this often (ms). */
const REFRESH_MS = 30_000

const log = (line) => process.stderr.write(`[rendezvous] ${line}\n`)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const round = (value, digits = 1) => (value === null ? null : Number(value.toFixed(digits)))
const mode = process.argv[2] ?? 'main'

/** A child's side of the IPC: answer `{ id, call, ...args }` messages with `{ id, result }`. */
function serveCalls(handlers) {
  process.on('message', async (message) => {
    if (message?.call === undefined) return
    try {
      process.send({ id: message.id, result: await handlers[message.call](message) })
    } catch (error) {
      process.send({ id: message.id, error: String(error?.stack ?? error) })
    }
  })
}

// --- a rendezvous server process ------------------------------------------------

if (mode === 'server') {
  const handle = rendezvousServer()
  const node = await createNode({
    networkName: NETWORK,
    transports: [tcp({ host: '127.0.0.1' })],
    listen: ['tcp://127.0.0.1:0'],
    services: [handle],
    logLevel: 'silent',
    bootstrap: { cache: false },
    // Every simulated node keeps a connection to every server.
    connection: { maxConnections: 4 * NODES, maxInboundPerIp: 4 * NODES, maxInboundPerSubnet: 4 * NODES, maxPendingInbound: 1024 },
  })
  await node.start()
  serveCalls({
    contact: async () => ({ peerId: node.peerId, addresses: node.addresses }),
    sample: async () => {
      globalThis.gc?.()
      return { cpu: process.cpuUsage(), memory: process.memoryUsage(), stats: handle.stats(), connections: node.connections.length }
    },
  })
  process.send({ ready: true })
}

// --- a worker process: many nodes ---------------------------------------------------

if (mode === 'worker') {
  const servers = JSON.parse(process.env.BENCH_RV_CONTACTS)
  const nodes = new Map()
  let pending = []
  setInterval(() => {
    if (pending.length === 0) return
    process.send({ known: pending })
    pending = []
  }, 100).unref()
  serveCalls({
    join: async ({ node: id, topic }) => {
      const node = await createNode({
        networkName: NETWORK,
        role: 'client',
        transports: [tcp({ host: '127.0.0.1' })],
        services: [rendezvous({ servers, topics: [topic], autoConnect: false })],
        logLevel: 'silent',
        bootstrap: { cache: false },
      })
      node.on('peer:discovered', ({ peerId }) => pending.push([id, peerId, Date.now()]))
      nodes.set(id, node)
      const startedAt = Date.now()
      await node.start()
      return { peerId: node.peerId, startedAt }
    },
    leave: async ({ node: id }) => {
      const node = nodes.get(id)
      nodes.delete(id)
      await node?.stop()
      return { at: Date.now() }
    },
    memory: async () => {
      globalThis.gc?.()
      return { memory: process.memoryUsage(), nodes: nodes.size }
    },
  })
  process.send({ ready: true })
}

// --- the coordinator -------------------------------------------------------------------

/** A forked child with request/answer calls. */
function child(role, extraEnv = {}) {
  const proc = fork(fileURLToPath(import.meta.url), [role], {
    execArgv: ['--expose-gc', '--max-old-space-size=4096'],
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  const waiting = new Map()
  let next = 0
  let onKnown = () => {}
  const ready = new Promise((resolve, reject) => {
    proc.on('message', (message) => {
      if (message.ready) resolve()
      else if (message.known) onKnown(message.known)
      else {
        const call = waiting.get(message.id)
        waiting.delete(message.id)
        if (message.error) call?.reject(new Error(message.error))
        else call?.resolve(message.result)
      }
    })
    proc.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)))
  })
  return {
    ready,
    // A call that hangs (a node that never starts or stops) fails after CALL_TIMEOUT and is counted, not waited for.
    call: (name, args = {}) =>
      new Promise((resolve, reject) => {
        const id = ++next
        const timer = setTimeout(() => {
          waiting.delete(id)
          reject(new Error(`${role} ${name} took over ${CALL_TIMEOUT} ms`))
        }, CALL_TIMEOUT)
        waiting.set(id, {
          resolve: (value) => (clearTimeout(timer), resolve(value)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        })
        proc.send({ id, call: name, ...args })
      }),
    onKnown: (fn) => (onKnown = fn),
    kill: () => proc.kill('SIGKILL'),
  }
}

function percentiles(values) {
  if (values.length === 0) return { count: 0, p50: null, p95: null, max: null }
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return { count: values.length, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] }
}

/** Memory of the registry alone: `count` real signed records registered, heap before and after. */
async function registryFootprint(count) {
  const { Registry } = await import('../packages/discovery-rendezvous/dist/registry.js')
  const network = hashNetworkName(NETWORK)
  const now = Date.now()
  const entries = []
  for (let i = 0; i < count; i++) {
    const identity = newSigningIdentity()
    const fields = { network, addresses: [`tcp://203.0.113.${i % 250}:${4000 + (i % 1000)}`, `quic://203.0.113.${i % 250}:${4000 + (i % 1000)}`], nat: { stun: 'endpoint-independent' }, seq: now, expires: now + 600_000 }
    entries.push({ record: { peerId: identity.peerId, ...fields }, signed: signRecord(identity, fields) })
  }
  // What arrives over the wire is parsed anew: the registry then holds the only reference to each record.
  let registry = new Registry({ maxRegistrationsPerPeer: 32, maxRegistrationsPerTopic: 1_000_000, maxRegistrations: 10_000_000 })
  for (const [i, { record, signed }] of JSON.parse(JSON.stringify(entries)).entries()) registry.register(`topic-${i % TOPICS}`, record, signed, now + 600_000, now)
  entries.length = 0
  const registrations = registry.stats().registrations
  globalThis.gc?.()
  const held = process.memoryUsage().heapUsed
  registry = undefined
  globalThis.gc?.()
  const released = process.memoryUsage().heapUsed
  return { registrations, bytesPerRegistration: Math.round((held - released) / count) }
}

/** One raw DISCOVER walk of `topic` on `connection`: the peer ids of the records served. */
async function walk(connection, topic) {
  const { frameBytes, paddingFor, readAnswer, writeFrame } = await import('../packages/discovery-rendezvous/dist/protocol.js')
  const peers = []
  let cookie
  for (let page = 0; page < 100; page++) {
    const frame = { type: 'discover', topic, limit: 100, ...(cookie === undefined ? {} : { cookie }) }
    const pad = paddingFor(frameBytes(frame), 100 * 1024, 8)
    const stream = await connection.openProtocolStream(RENDEZVOUS_PROTOCOL)
    await writeFrame(stream, pad === undefined ? frame : { ...frame, pad }, true)
    const answer = await readAnswer(stream, 5_000)
    for (const record of answer.records) peers.push(JSON.parse(Buffer.from(record.payload, 'base64').toString()).peerId)
    if (!answer.more || answer.cookie === undefined || answer.cookie === cookie) break
    cookie = answer.cookie
  }
  return peers
}

async function main() {
  const startedAt = Date.now()
  log(`${NODES} nodes, ${TOPICS} topics, ${SERVERS} servers, ${WORKERS} workers; churn ${CHURN * 100} %/min for ${MINUTES} min`)
  const servers = Array.from({ length: SERVERS }, () => child('server'))
  await Promise.all(servers.map((s) => s.ready))
  const contacts = await Promise.all(servers.map((s) => s.call('contact')))
  const baseline = await Promise.all(servers.map((s) => s.call('sample')))
  const workers = Array.from({ length: WORKERS }, () => child('worker', { BENCH_RV_CONTACTS: JSON.stringify(contacts) }))
  await Promise.all(workers.map((w) => w.ready))

  /** id -> { topic, worker, peerId, startedAt, readyAt, leftAt, churn } */
  const nodes = new Map()
  const byPeer = new Map()
  /** `${id} ${peerId}` -> first time `id` discovered `peerId` */
  const knownAt = new Map()
  for (const worker of workers) {
    worker.onKnown((batch) => {
      for (const [id, peerId, at] of batch) {
        const key = `${id} ${peerId}`
        if (!knownAt.has(key)) knownAt.set(key, at)
      }
    })
  }
  let nextId = 0
  const failures = { join: [], leave: [] }
  async function join(churn) {
    const id = nextId++
    const topic = `topic-${id % TOPICS}`
    const worker = workers[id % WORKERS]
    const entry = { id, topic, worker, churn, peerId: undefined, startedAt: undefined, readyAt: undefined, leftAt: undefined }
    nodes.set(id, entry)
    let answer
    try {
      answer = await worker.call('join', { node: id, topic })
    } catch (error) {
      failures.join.push(String(error.message ?? error).slice(0, 200))
      entry.leftAt = Date.now()
      return
    }
    const { peerId, startedAt: at } = answer
    entry.peerId = peerId
    entry.startedAt = at
    entry.readyAt = Date.now()
    byPeer.set(peerId, entry)
  }
  async function leave(entry) {
    entry.leftAt = Date.now() // gone for the metrics from the moment it starts to stop
    await entry.worker.call('leave', { node: entry.id }).catch((error) => failures.leave.push(String(error.message ?? error).slice(0, 200)))
  }

  // The probe: a plain node connected to every server, walking every topic with raw DISCOVER requests.
  const probe = await createNode({ networkName: NETWORK, role: 'client', transports: [tcp({ host: '127.0.0.1' })], logLevel: 'silent', bootstrap: { cache: false } })
  await probe.start()
  const probeConnections = await Promise.all(contacts.map((c) => probe.connect(c)))
  const staleSamples = []
  let probing = true
  const probeLoop = (async () => {
    while (probing) {
      const at = Date.now()
      let served = 0
      let stale = 0
      let oldestMs = 0
      for (const connection of probeConnections) {
        for (let t = 0; t < TOPICS && probing; t++) {
          const peers = await Promise.race([walk(connection, `topic-${t}`), sleep(10_000).then(() => [])]).catch(() => [])
          served += peers.length
          for (const peerId of peers) {
            const entry = byPeer.get(peerId)
            if (entry?.leftAt !== undefined) {
              stale++
              oldestMs = Math.max(oldestMs, at - entry.leftAt)
            }
          }
          await sleep(60) // within the server's per-peer rate limit (20/s)
        }
      }
      if (probing) staleSamples.push({ at: at - startedAt, served, stale, oldestStaleMs: oldestMs })
      await sleep(Math.max(0, PROBE_MS - (Date.now() - at)))
    }
  })()

  // Ramp-up: every node joins, JOIN_RATE a second.
  log('ramp-up')
  const joins = []
  for (let i = 0; i < NODES; i++) {
    joins.push(join(false))
    await sleep(1000 / JOIN_RATE)
  }
  await Promise.all(joins)
  const rampedAt = Date.now()
  log(`ramp-up done in ${((rampedAt - startedAt) / 1000).toFixed(1)} s; waiting one refresh interval`)
  await sleep(REFRESH_MS + 5_000)
  const steadyAt = Date.now()
  const steady = await Promise.all(servers.map((s) => s.call('sample')))

  // Churn: CHURN of the nodes leave and as many join, each minute, evenly spread.
  log('churn')
  const everyMs = 60_000 / Math.max(1, Math.round(NODES * CHURN))
  const churnEnd = Date.now() + MINUTES * 60_000
  const churnOps = []
  let lastReport = Date.now()
  while (Date.now() < churnEnd) {
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now()
      log(`churn: ${[...nodes.values()].filter((n) => n.churn).length} joined, ${failures.join.length + failures.leave.length} calls failed`)
    }
    const alive = [...nodes.values()].filter((n) => n.readyAt !== undefined && n.leftAt === undefined)
    const victim = alive[Math.floor(Math.random() * alive.length)]
    if (victim) churnOps.push(leave(victim))
    churnOps.push(join(true))
    await sleep(everyMs)
  }
  await Promise.all(churnOps)
  log('churn done')
  // Let the last joiners be found by their topics' refreshes.
  await sleep(REFRESH_MS + 5_000)
  const endAt = Date.now()
  const end = await Promise.all(servers.map((s) => s.call('sample')))
  probing = false
  await Promise.race([probeLoop, sleep(15_000)])

  // --- figures ---
  const members = (topic) => [...nodes.values()].filter((n) => n.topic === topic && n.readyAt !== undefined)
  const aliveThrough = (n, from, to) => n.readyAt <= from && (n.leftAt === undefined || n.leftAt > to)
  const selfKnow = { initial: [], churn: [] }
  const othersKnow = []
  let neverKnown = 0
  for (const node of nodes.values()) {
    if (node.readyAt === undefined) continue
    const horizon = node.leftAt ?? endAt
    // Its own view: every peer of its topic that was up when it started and stayed up.
    const peers = members(node.topic).filter((p) => p !== node && aliveThrough(p, node.startedAt, horizon))
    const times = peers.map((p) => knownAt.get(`${node.id} ${p.peerId}`))
    if (times.some((t) => t === undefined)) {
      if (node.leftAt === undefined) neverKnown++
    } else if (peers.length > 0) selfKnow[node.churn ? 'churn' : 'initial'].push(Math.max(...times) - node.startedAt)
    // A newcomer during churn: how long until every peer of its topic that stayed up knew it.
    if (node.churn && node.leftAt === undefined) {
      const knowers = members(node.topic).filter((p) => p !== node && aliveThrough(p, node.readyAt, endAt))
      const seen = knowers.map((p) => knownAt.get(`${p.id} ${node.peerId}`))
      if (seen.every((t) => t !== undefined) && knowers.length > 0) othersKnow.push(Math.max(...seen) - node.readyAt)
    }
  }
  const serverFigures = servers.map((_, i) => {
    const [b, s, e] = [baseline[i], steady[i], end[i]]
    const requests = (x) => Object.values(x.stats.requests).reduce((sum, n) => sum + n, 0)
    const churnRequests = requests(e) - requests(s)
    const cpuMs = (e.cpu.user + e.cpu.system - s.cpu.user - s.cpu.system) / 1000
    return {
      registrations: e.stats.registrations,
      peers: e.stats.peers,
      connections: e.connections,
      requests: e.stats.requests,
      refused: e.stats.refused,
      bytes: e.stats.bytes,
      churnPhase: {
        seconds: round((endAt - steadyAt) / 1000),
        requests: churnRequests,
        requestsPerSecond: round(churnRequests / ((endAt - steadyAt) / 1000)),
        cpuPercentOfACore: round((cpuMs / (endAt - steadyAt)) * 100),
        // Mostly the upkeep of the connections (keep-alives), not the requests: both per node and per request.
        cpuMicrosPerRequest: round((cpuMs * 1000) / churnRequests),
        cpuMicrosPerConnectedNodePerSecond: round((cpuMs * 1000) / Math.max(1, e.connections) / ((endAt - steadyAt) / 1000), 2),
      },
      memory: {
        baselineRssMiB: round(b.memory.rss / 2 ** 20),
        rssMiB: round(e.memory.rss / 2 ** 20),
        heapUsedMiB: round(e.memory.heapUsed / 2 ** 20),
        // Everything the server holds for a client (after a GC): its connection (TLS, muxer, buffers) and its registrations.
        kiBPerConnectedNode: round((e.memory.heapUsed + e.memory.external - b.memory.heapUsed - b.memory.external) / 1024 / Math.max(1, e.connections)),
      },
    }
  })
  const totalServed = staleSamples.reduce((sum, s) => sum + s.served, 0)
  const totalStale = staleSamples.reduce((sum, s) => sum + s.stale, 0)
  const workerMemory = await Promise.all(workers.map((w) => w.call('memory')))
  const registry = await registryFootprint(20_000)
  const result = {
    generatedAt: new Date().toISOString(),
    setup: { nodes: NODES, topics: TOPICS, servers: SERVERS, workers: WORKERS, churnPerMinute: CHURN, churnMinutes: MINUTES, joinRate: JOIN_RATE, refreshIntervalMs: REFRESH_MS, ttlMs: 600_000 },
    rampUpSeconds: round((rampedAt - startedAt) / 1000),
    joinsDuringChurn: [...nodes.values()].filter((n) => n.churn).length,
    leftDuringChurn: [...nodes.values()].filter((n) => n.leftAt !== undefined).length,
    knowsLivePeersMs: { initial: percentiles(selfKnow.initial), newcomer: percentiles(selfKnow.churn) },
    newcomerKnownByTopicMs: percentiles(othersKnow),
    nodesStillMissingPeers: neverKnown,
    failedCalls: { join: failures.join.length, leave: failures.leave.length, first: [...failures.join, ...failures.leave].slice(0, 3) },
    staleRecords: {
      samples: staleSamples.length,
      served: totalServed,
      stale: totalStale,
      staleShare: round(totalServed === 0 ? 0 : (totalStale / totalServed) * 100, 2),
      lastSample: staleSamples.at(-1) ?? null,
      oldestStaleMs: Math.max(0, ...staleSamples.map((s) => s.oldestStaleMs)),
    },
    servers: serverFigures,
    registryOnly: registry,
    clientSide: { workerRssMiB: workerMemory.map((w) => round(w.memory.rss / 2 ** 20)), nodesPerWorker: workerMemory.map((w) => w.nodes) },
  }
  await probe.stop()
  for (const c of [...workers, ...servers]) c.kill()
  writeFileSync(RESULTS_FILE, `${JSON.stringify(result, null, 2)}\n`)
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  log(`written to ${RESULTS_FILE}`)
  process.exit(0)
}

// `node --expose-gc bench/rendezvous.mjs registry`: only the registry's memory per registration.
if (mode === 'registry') process.stdout.write(`${JSON.stringify(await registryFootprint(20_000))}\n`)

if (mode === 'main') {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
