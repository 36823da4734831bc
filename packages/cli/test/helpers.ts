/**
 * Running the built `crust` binary in child processes, as users do.
 * The tests need `npx tsc -b tsconfig.json` first (the root `pnpm test` builds).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll } from 'vitest'

/** The built entry point. */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

/** Fail with a clear message when the CLI has not been built. */
export function requireBuild(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first with npx tsc -b tsconfig.json (pnpm test builds)`)
}

/** What a finished `crust` run printed. */
export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/** Run `crust args...` to completion (killed after `timeout` ms). */
export function crust(args: readonly string[], options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}): Promise<Run> {
  requireBuild()
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 20_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: performance.now() - started })
    })
  })
}

/** The `ready` line of `crust start --json`. */
export interface Ready {
  readonly peerId: string
  readonly addresses: string[]
  readonly control: string
  /** Only with --inbox. */
  readonly inbox: string
}

/** A `crust start --json` (or `crust serve --json`) child process. */
export class StartedNode {
  readonly lines: Array<Record<string, unknown>> = []
  stderr = ''
  private readonly waiters = new Set<() => void>()
  readonly exited: Promise<number | null>

  private constructor(
    readonly child: ChildProcess,
    readonly ready: Ready,
  ) {
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)))
  }

  /** Start `crust <command> --json args...` (`start` by default) and resolve at its ready line. */
  static start(args: readonly string[], command = 'start'): Promise<StartedNode> {
    requireBuild()
    const child = spawn(process.execPath, [BIN, command, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    return new Promise((resolve, reject) => {
      let node: StartedNode | undefined
      let buffered = ''
      let stderr = ''
      const early: Array<Record<string, unknown>> = []
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk
        if (node) node.stderr += chunk
      })
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk
        let newline = buffered.indexOf('\n')
        while (newline !== -1) {
          const line = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>
          buffered = buffered.slice(newline + 1)
          newline = buffered.indexOf('\n')
          if (node) {
            node.push(line)
          } else if (line.type === 'ready') {
            node = new StartedNode(child, line as unknown as Ready)
            node.stderr = stderr
            for (const l of early) node.push(l)
            node.push(line)
            started.push(node)
            resolve(node)
          } else early.push(line)
        }
      })
      child.on('close', (code) => {
        if (!node) reject(new Error(`crust ${command} exited with ${code} before ready: ${stderr.trim()}`))
      })
    })
  }

  /** Resolve with the first line (already seen or coming) that matches, within `timeout` ms. */
  async waitFor(match: (line: Record<string, unknown>) => boolean, timeout = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeout
    for (;;) {
      const found = this.lines.find(match)
      if (found) return found
      if (Date.now() > deadline) throw new Error(`no matching line within ${timeout} ms; got: ${JSON.stringify(this.lines.map((l) => l.event ?? l.type))}`)
      await new Promise<void>((resolve) => {
        this.waiters.add(resolve)
        setTimeout(resolve, 100)
      })
    }
  }

  /** Send `signal` and resolve with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return this.exited
  }

  private push(line: Record<string, unknown>): void {
    this.lines.push(line)
    for (const wake of this.waiters) wake()
    this.waiters.clear()
  }
}

const started: StartedNode[] = []
const dirs: string[] = []

/** A temp directory, removed after the file's tests. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'crust-cli-'))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  await Promise.all(started.splice(0).map((node) => node.stop('SIGKILL')))
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})
