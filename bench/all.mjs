#!/usr/bin/env node
// `pnpm bench`: every benchmark in one run, one JSON document on stdout.
//   tcp:  Crust over TCP against raw node:tls (bench/run.mjs)
//   quic: Crust over QUIC against bare @matrixai/quic defaults (packages/transport-quic/bench/quic-bench.mjs)
//   streams: application streams over TCP and QUIC against the same run's large-message figure (bench/streams.mjs)
// Progress goes to stderr. BENCH_SUITES=tcp (or quic, streams, a comma list) runs some of them.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const suites = {
  tcp: fileURLToPath(new URL('./run.mjs', import.meta.url)),
  quic: fileURLToPath(new URL('../packages/transport-quic/bench/quic-bench.mjs', import.meta.url)),
  streams: fileURLToPath(new URL('./streams.mjs', import.meta.url)),
}
const wanted = (process.env.BENCH_SUITES ?? 'tcp,quic,streams').split(',').filter((name) => name in suites)

function run(script) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${script} exited with ${code}`))
      try {
        resolve(JSON.parse(out))
      } catch (error) {
        reject(new Error(`${script} printed no JSON: ${error.message}`))
      }
    })
  })
}

const report = {}
for (const name of wanted) report[name] = await run(suites[name])
writeFileSync(fileURLToPath(new URL('../bench-results.json', import.meta.url)), `${JSON.stringify(report, null, 2)}\n`)
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
