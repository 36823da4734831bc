import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { EventLine, Reply, StartParams } from './host-protocol.js'
import type { NetLab } from './lab.js'

const repositoryRoot = fileURLToPath(new URL('../../..', import.meta.url))
const runner = fileURLToPath(new URL('./host-runner.ts', import.meta.url))

/** An error a lab node reported, with the remote error's name and code. */
export class LabCallError extends Error {
  constructor(
    readonly remoteName: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(`${remoteName}: ${message}`)
  }
}

/** A Crust node running in a lab namespace, driven over its stdin/stdout. */
export class LabHost {
  readonly events: EventLine[] = []
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private nextId = 0
  private stderr = ''
  peerId = ''
  addresses: string[] = []
  /** When the node's `start()` was called (`Date.now()` in the node's process; the lab shares one clock). */
  startedAt = 0

  /** Settles when the node's process has exited. */
  readonly exited: Promise<void>

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    createInterface({ input: child.stdout! }).on('line', (line) => this.receive(line))
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()))
    child.once('exit', (code) => {
      for (const { reject } of this.pending.values()) reject(new Error(`lab node exited (${code}): ${this.stderr.slice(-2000)}`))
      this.pending.clear()
    })
  }

  /** Start a node in `namespace` (the packages must be built: `pnpm build`). */
  static async start(lab: NetLab, namespace: string, params: StartParams): Promise<LabHost> {
    const host = await LabHost.create(lab, namespace, params)
    await host.begin()
    return host
  }

  /**
   * Run a node's process and create the node without starting it, so that
   * several nodes can be started together ({@link LabHost.begin}) once all
   * their processes are up.
   */
  static async create(lab: NetLab, namespace: string, params: StartParams): Promise<LabHost> {
    // Run from the repository root so `--import tsx` resolves.
    const child = lab.spawn(namespace, process.execPath, ['--import', 'tsx', runner], { cwd: repositoryRoot })
    const host = new LabHost(child)
    const info = (await host.call('create', params)) as { peerId: string }
    host.peerId = info.peerId
    return host
  }

  /** Start the node made by {@link LabHost.create}. */
  async begin(): Promise<void> {
    const info = (await this.call('begin')) as { peerId: string; addresses: string[]; startedAt: number }
    this.addresses = info.addresses
    this.startedAt = info.startedAt
  }

  /** Kill the node's process with SIGKILL (no goodbye to its peers) and wait until it is gone. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL')
    await this.exited
  }

  /** What the node wrote to stderr so far: its log lines, at the configured `logLevel`. */
  get log(): string {
    return this.stderr
  }

  /** Call a method of the runner; rejects with {@link LabCallError} when the node reports an error. */
  call(method: string, params: unknown = {}): Promise<unknown> {
    const id = ++this.nextId
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.child.stdin!.write(`${JSON.stringify({ id, method, params })}\n`)
    })
  }

  /** Resolve with the first event named `event` (already received or still to come). */
  async waitForEvent(event: string, timeoutMs = 5000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.find((e) => e.event === event)
      if (found) return found.payload
      if (Date.now() > deadline) throw new Error(`no '${event}' event within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  private receive(line: string): void {
    let parsed: Reply | EventLine
    try {
      parsed = JSON.parse(line) as Reply | EventLine
    } catch {
      return // stray output
    }
    if ('event' in parsed) {
      this.events.push(parsed)
      return
    }
    const waiter = this.pending.get(parsed.id)
    if (!waiter) return
    this.pending.delete(parsed.id)
    if ('error' in parsed) waiter.reject(new LabCallError(parsed.error.name, parsed.error.code, parsed.error.message))
    else waiter.resolve(parsed.result)
  }
}

