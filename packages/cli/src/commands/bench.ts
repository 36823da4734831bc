/**
 * `crust bench`: run the repository's benchmarks (`node bench/all.mjs`) and
 * print their JSON as tables. The benchmarks compare against raw node:tls
 * and bare @matrixai/quic and need the monorepo, so this only works from a
 * Crust checkout.
 *
 * @packageDocumentation
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expectPositionals, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { CliError, ExitCode, FailureError, UsageError } from '../errors.js'
import type { CliIo } from '../io.js'
import { renderBenchReport } from './bench-report.js'

const HELP = `Usage: crust bench [--suites tcp,quic] [--json] [--repo <dir>]
       crust bench --results <file>

Run the benchmarks of a Crust checkout (node bench/all.mjs: Crust over TCP
against raw node:tls, Crust over QUIC against bare @matrixai/quic, on
loopback; about a minute or two) and print the figures as tables. Progress
goes to stderr. The benchmarks need the monorepo (they use its raw baselines
and patched libraries), so run this inside a clone of the Crust repository,
after pnpm install && pnpm build.

Options:
  --suites <list>    tcp, quic or tcp,quic (default: both)
  --repo <dir>       the checkout (default: found from the current directory,
                     or from where this crust is installed)
  --results <file>   print the tables of an earlier run's JSON (bench-results.json)
                     instead of running
  --json             print the JSON document instead of tables
  -h, --help         show this help
`

/** `crust bench` */
export const benchCommand: Command = {
  name: 'bench',
  summary: 'run the benchmarks (from a Crust checkout) and print a table',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs('bench', {
      args: [...args],
      allowPositionals: true,
      options: {
        suites: { type: 'string' },
        repo: { type: 'string' },
        results: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    })
    if (values.help) {
      io.stdout.write(HELP)
      return ExitCode.OK
    }
    expectPositionals('bench', positionals, [])
    const suites = values.suites?.split(',').map((s) => s.trim())
    for (const suite of suites ?? []) if (suite !== 'tcp' && suite !== 'quic') throw new UsageError(`--suites: unknown suite '${suite}' (tcp, quic)`)

    let report: unknown
    if (values.results !== undefined) {
      report = parseReport(await readFile(resolve(io.cwd, values.results), 'utf8').catch(() => {
        throw new FailureError(`cannot read ${values.results}`)
      }), values.results)
    } else {
      const repo = findCheckout(values.repo === undefined ? undefined : resolve(io.cwd, values.repo), io.cwd)
      report = await runBench(repo, suites, io)
    }
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderBenchReport(report))
    return ExitCode.OK
  },
}

/** The checkout root: `explicit`, or the first directory up from `cwd` or from this file that holds bench/all.mjs. */
function findCheckout(explicit: string | undefined, cwd: string): string {
  if (explicit !== undefined) {
    if (isCheckout(explicit)) return explicit
    throw new FailureError(`${explicit} is not a Crust checkout (no bench/all.mjs in a crust-monorepo); the benchmarks need the repository`)
  }
  for (const start of [cwd, dirname(fileURLToPath(import.meta.url))]) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (isCheckout(dir)) return dir
      if (dirname(dir) === dir) break
    }
  }
  throw new FailureError(
    'crust bench runs the benchmarks of a Crust checkout and none was found here: clone the Crust repository, run pnpm install && pnpm build, then crust bench inside it (or pass --repo <dir>)',
  )
}

function isCheckout(dir: string): boolean {
  if (!existsSync(join(dir, 'bench', 'all.mjs'))) return false
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'crust-monorepo'
  } catch {
    return false
  }
}

/** Run bench/all.mjs in `repo`, passing its progress through to stderr; resolve to its JSON. */
function runBench(repo: string, suites: readonly string[] | undefined, io: CliIo): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const env = { ...io.env, ...(suites ? { BENCH_SUITES: suites.join(',') } : {}) }
    const child = spawn(process.execPath, [join(repo, 'bench', 'all.mjs')], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => io.stderr.write(chunk))
    const onAbort = (): void => void child.kill('SIGINT')
    io.interrupt.addEventListener('abort', onAbort, { once: true })
    child.on('error', (error) => reject(new FailureError(`cannot run the benchmarks: ${error.message}`)))
    child.on('exit', (code, signal) => {
      io.interrupt.removeEventListener('abort', onAbort)
      if (io.interrupt.aborted) return reject(new CliError('interrupted', ExitCode.INTERRUPTED))
      if (code !== 0) return reject(new FailureError(`the benchmarks failed (bench/all.mjs exited with ${code ?? signal}); is the checkout built (pnpm build)?`))
      try {
        resolvePromise(parseReport(out, 'bench/all.mjs output'))
      } catch (error) {
        reject(error)
      }
    })
  })
}

function parseReport(text: string, source: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new FailureError(`${source} is not the benchmark JSON`)
  }
}
