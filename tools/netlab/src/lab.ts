import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)
let labCounter = 0

/** Run a command, failing with its stderr in the message. */
async function run(command: string, args: readonly string[], input?: string): Promise<string> {
  if (input === undefined) {
    try {
      return (await execFileAsync(command, args)).stdout
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? ''
      throw new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || String(error)}`)
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.stderr.on('data', (d: Buffer) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} failed: ${err.trim()}`))))
    child.stdin.end(input)
  })
}

/**
 * A set of network namespaces joined by veth links, torn down as a whole.
 * Names carry a per-process, per-lab prefix so concurrent runs cannot clash.
 */
export class NetLab {
  private readonly namespaces: string[] = []
  private readonly children = new Set<ChildProcess>()
  private links = 0

  private constructor(readonly prefix: string) {}

  /** A new, empty lab. */
  static create(): NetLab {
    return new NetLab(`crust${process.pid}x${++labCounter}`)
  }

  /** Add a namespace with its loopback up; returns its full name. */
  async addNamespace(name: string): Promise<string> {
    const full = `${this.prefix}-${name}`
    await run('ip', ['netns', 'add', full])
    this.namespaces.push(full)
    await this.exec(full, 'ip', ['link', 'set', 'lo', 'up'])
    return full
  }

  /** Link two namespaces with a veth pair and give each end an address (CIDR form, e.g. `192.0.2.1/24`). */
  async link(a: string, addressA: string, b: string, addressB: string): Promise<void> {
    // Interface names are at most 15 characters and must be unique while both ends sit in the root namespace.
    const base = `v${process.pid % 100000}${labCounter}${++this.links}`
    const [endA, endB] = [`${base}a`, `${base}b`]
    await run('ip', ['link', 'add', endA, 'type', 'veth', 'peer', 'name', endB])
    await run('ip', ['link', 'set', endA, 'netns', a])
    await run('ip', ['link', 'set', endB, 'netns', b])
    await this.exec(a, 'ip', ['addr', 'add', addressA, 'dev', endA])
    await this.exec(b, 'ip', ['addr', 'add', addressB, 'dev', endB])
    await this.exec(a, 'ip', ['link', 'set', endA, 'up'])
    await this.exec(b, 'ip', ['link', 'set', endB, 'up'])
  }

  /**
   * Connect namespace `ns` to bridge `bridge` (which lives in `bridgeNs`) with a
   * veth pair; the `ns` end is named `ifname` and gets `cidr`.
   */
  async bridgePort(bridgeNs: string, bridge: string, ns: string, cidr: string, ifname: string): Promise<void> {
    const base = `v${process.pid % 100000}${labCounter}${++this.links}`
    const [bridgeEnd, hostEnd] = [`${base}a`, `${base}b`]
    await run('ip', ['link', 'add', bridgeEnd, 'type', 'veth', 'peer', 'name', hostEnd])
    await run('ip', ['link', 'set', bridgeEnd, 'netns', bridgeNs])
    await run('ip', ['link', 'set', hostEnd, 'netns', ns])
    await this.exec(bridgeNs, 'ip', ['link', 'set', bridgeEnd, 'master', bridge])
    await this.exec(bridgeNs, 'ip', ['link', 'set', bridgeEnd, 'up'])
    await this.exec(ns, 'ip', ['link', 'set', hostEnd, 'name', ifname])
    await this.exec(ns, 'ip', ['addr', 'add', cidr, 'dev', ifname])
    await this.exec(ns, 'ip', ['link', 'set', ifname, 'up'])
  }

  /** Load an nftables ruleset into a namespace. */
  async nft(namespace: string, ruleset: string): Promise<void> {
    await run('ip', ['netns', 'exec', namespace, 'nft', '-f', '-'], ruleset)
  }

  /** Run a command inside a namespace and return its stdout. */
  exec(namespace: string, command: string, args: readonly string[]): Promise<string> {
    return run('ip', ['netns', 'exec', namespace, command, ...args])
  }

  /** Start a long-running process inside a namespace; it is killed on {@link destroy}. */
  spawn(namespace: string, command: string, args: readonly string[], options: { cwd?: string } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', namespace, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    return child
  }

  /**
   * Run a TypeScript script (through tsx) inside a namespace and parse the
   * JSON it prints last on stdout.
   */
  async runScript(namespace: string, script: string, args: readonly string[] = []): Promise<unknown> {
    const out = await run('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', script, ...args])
    const last = out.trim().split('\n').pop() ?? ''
    return JSON.parse(last)
  }

  /** Kill every process in the lab's namespaces and delete them. Safe to call twice. */
  async destroy(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL')
    for (const namespace of this.namespaces.splice(0)) {
      // `ip netns pids` finds processes started by any means, not only ours.
      const pids = await run('ip', ['netns', 'pids', namespace]).catch(() => '')
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL')
        } catch {
          // already gone
        }
      }
      await run('ip', ['netns', 'del', namespace]).catch(() => {})
    }
  }
}
