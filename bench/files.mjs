// `pnpm bench:files`: a 2 GiB file sent with the real `crust send --file` to a
// real `crust start --inbox` (packages/cli/dist/bin.js, two processes), over
// TCP and over QUIC on loopback. Reports the time, MB/s, the peak RSS (VmHWM)
// of both processes, and checks the saved file's SHA-256 against the source's.
//
// Too long for `pnpm bench` (it writes 2 GiB, sends it and reads it back, per
// transport, ~1 minute in all); needs ~4 GiB free in the temp directory.
// Environment: BENCH_FILE_GIB (default 2), BENCH_TRANSPORTS=tcp,quic.
// One JSON document on stdout (and bench-files-results.json at the repository
// root), progress on stderr.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const MiB = 1024 * 1024
const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const RESULTS_FILE = fileURLToPath(new URL('../bench-files-results.json', import.meta.url))
const SIZE = Math.round(Number(process.env.BENCH_FILE_GIB ?? 2) * 1024 * MiB)
const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? 'tcp,quic').split(',')
const RSS_SAMPLE_MS = 100

const log = (line) => process.stderr.write(`[files] ${line}\n`)
const round = (value, digits = 1) => Number(value.toFixed(digits))

/** Write `size` bytes (a random 16 MiB block, repeated) to `path`; resolve to their SHA-256. */
async function makeFile(path, size) {
  const block = randomBytes(16 * MiB)
  const hash = createHash('sha256')
  const out = createWriteStream(path)
  for (let written = 0; written < size; written += block.length) {
    const chunk = block.subarray(0, Math.min(block.length, size - written))
    hash.update(chunk)
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve))
  }
  await new Promise((resolve, reject) => out.end((error) => (error ? reject(error) : resolve())))
  return hash.digest('hex')
}

async function hashOf(path) {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk)
  return hash.digest('hex')
}

/** VmHWM (peak RSS) and VmRSS of a process, bytes; undefined once it is gone (Linux only). */
function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024
    return { peak: kib('VmHWM'), rss: kib('VmRSS') }
  } catch {
    return undefined
  }
}

/** Track the peak RSS of `pid` until `stop()`: the last VmHWM read before the process ends. */
function watchPeak(pid) {
  let peak = 0
  const sample = () => {
    const m = memoryOf(pid)
    // A process that is exiting (a zombie) has no VmHWM/VmRSS any more: keep what was read before.
    for (const value of [m?.peak, m?.rss]) if (Number.isFinite(value)) peak = Math.max(peak, value)
  }
  sample()
  const timer = setInterval(sample, RSS_SAMPLE_MS)
  return {
    stop() {
      sample()
      clearInterval(timer)
      return peak
    },
  }
}

/** Run `crust args...`; resolve to { code, stdout, stderr }. */
function crust(args, onSpawn) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    onSpawn?.(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** `crust start --json args...`, resolved at its ready line, with its later lines collected. */
function startNode(args) {
  const child = spawn(process.execPath, [BIN, 'start', '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = []
  return new Promise((resolve, reject) => {
    let buffered = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffered += chunk
      for (let i = buffered.indexOf('\n'); i !== -1; i = buffered.indexOf('\n')) {
        const line = JSON.parse(buffered.slice(0, i))
        buffered = buffered.slice(i + 1)
        lines.push(line)
        if (line.type === 'ready') resolve({ child, ready: line, lines })
      }
    })
    child.on('close', (code) => reject(new Error(`crust start exited with ${code} before ready`)))
  })
}

async function benchTransport(transport, dir, source, sourceSha256, aliceKey, alicePeerId) {
  const inbox = join(dir, `inbox-${transport}`)
  const node = await startNode([
    '--listen',
    `${transport}://127.0.0.1:0`,
    '--data-dir',
    join(dir, `bob-${transport}`),
    '--control',
    join(dir, `bob-${transport}.sock`),
    '--inbox',
    inbox,
    '--allow',
    alicePeerId,
    '--max-file',
    String(SIZE),
  ])
  try {
    const receiverBefore = memoryOf(node.child.pid)
    const receiverPeak = watchPeak(node.child.pid)
    let senderPeak
    const started = performance.now()
    const run = await crust(['send', '--direct', '--key-file', aliceKey, '--json', `${node.ready.peerId}@${node.ready.addresses[0]}`, '--file', source], (child) => {
      senderPeak = watchPeak(child.pid)
    })
    const seconds = (performance.now() - started) / 1000
    const senderPeakBytes = senderPeak.stop()
    const receiverPeakBytes = receiverPeak.stop()
    if (run.code !== 0) throw new Error(`crust send over ${transport} exited ${run.code}: ${run.stderr.trim()}`)
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1))
    log(`${transport}: sent in ${seconds.toFixed(1)} s; hashing the saved file ...`)
    const savedSha256 = await hashOf(summary.savedAs)
    const result = {
      bytes: SIZE,
      seconds: round(seconds, 2),
      MBps: round(SIZE / 1e6 / seconds),
      sha256Verified: summary.sha256 === sourceSha256 && savedSha256 === sourceSha256,
      attempts: summary.attempts,
      senderPeakRssMiB: round(senderPeakBytes / MiB),
      receiverRssBeforeMiB: round((receiverBefore?.rss ?? 0) / MiB),
      receiverPeakRssMiB: round(receiverPeakBytes / MiB),
    }
    log(`${transport}: ${result.MBps} MB/s, peak RSS sender ${result.senderPeakRssMiB} MiB, receiver ${result.receiverPeakRssMiB} MiB, hash ${result.sha256Verified ? 'ok' : 'MISMATCH'}`)
    await rm(summary.savedAs, { force: true })
    return result
  } finally {
    node.child.kill('SIGTERM')
  }
}

async function main() {
  const dir = await mkdtemp(join(os.tmpdir(), 'crust-bench-files-'))
  try {
    const source = join(dir, 'big.bin')
    log(`writing a ${SIZE / MiB} MiB file ...`)
    const sourceSha256 = await makeFile(source, SIZE)
    const aliceKey = join(dir, 'alice.pem')
    const key = await crust(['keygen', '--out', aliceKey, '--json'])
    const alicePeerId = JSON.parse(key.stdout).peerId
    const results = {}
    for (const transport of TRANSPORTS) results[transport] = await benchTransport(transport, dir, source, sourceSha256, aliceKey, alicePeerId)
    return {
      machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: os.loadavg().map((l) => round(l, 2)) },
      measures:
        'crust send --direct --file (a short-lived client node) to crust start --inbox, separate processes on loopback: wall time of crust send ' +
        '(node start, dial, stream, SHA-256 check by the receiver), peak RSS (VmHWM) of each process, and the saved file hashed again here.',
      results,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

try {
  const report = await main()
  const json = JSON.stringify(report, null, 2)
  writeFileSync(RESULTS_FILE, `${json}\n`)
  process.stdout.write(`${json}\n`)
} catch (error) {
  log(`error: ${error?.stack ?? error}`)
  process.exit(1)
}
