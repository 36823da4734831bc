/**
 * A real, non-loopback path for QUIC tests: a veth pair between this process
 * (root namespace) and a network namespace in which a child node runs
 * (`peer-runner.ts`, driven over stdin/stdout). Defects that hide on
 * 127.0.0.1 (draining periods sized by quiche's timers, datagram sizes chosen
 * by the path) show here. Needs root; tests skip loudly without it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

let counter = 0

/** Why a veth lab cannot run here, or undefined if it can. */
export function vethUnsupported(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces and veth pairs need root (CI runs as root)'
  try {
    execFileSync('sh', ['-c', 'command -v ip && command -v nft'], { stdio: 'ignore' })
  } catch {
    return "'ip' or 'nft' is not installed (apt-get install iproute2 nftables)"
  }
  return undefined
}

/** Print a loud banner for a skipped lab test. */
export function announceVethSkip(what: string, reason: string): void {
  const line = '!'.repeat(78)
  process.stderr.write(`\n${line}\n!! SKIPPED: ${what}\n!! because ${reason}\n${line}\n\n`)
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' })
}

/** A veth pair: `hostIp` on this process's side, `peerIp` inside `namespace`. */
export class VethPath {
  readonly children = new Set<ChildProcess>()
  private constructor(
    readonly namespace: string,
    readonly link: string,
    readonly hostIp: string,
    readonly peerIp: string,
  ) {}

  /** Create a namespace and a veth pair of `mtu` bytes into it (a /30 of 10.213.0.0/16 not used on this machine). */
  static create(mtu = 1500): VethPath {
    const n = (process.pid % 8000) * 8 + (++counter % 8)
    const subnet = `10.${213 + Math.floor(n / 16384)}.${Math.floor(n / 64) % 256}.${(n % 64) * 4}`
    const [a, b, c, d] = subnet.split('.').map(Number) as [number, number, number, number]
    const hostIp = `${a}.${b}.${c}.${d + 1}`
    const peerIp = `${a}.${b}.${c}.${d + 2}`
    const namespace = `crustq${process.pid}x${counter}`
    const link = `vq${process.pid % 100000}x${counter}`
    ip('netns', 'add', namespace)
    const path = new VethPath(namespace, link, hostIp, peerIp)
    try {
      ip('link', 'add', `${link}a`, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', `${link}b`, 'mtu', String(mtu))
      ip('link', 'set', `${link}b`, 'netns', namespace)
      ip('addr', 'add', `${hostIp}/30`, 'dev', `${link}a`)
      ip('link', 'set', `${link}a`, 'up')
      path.exec('ip', 'link', 'set', 'lo', 'up')
      path.exec('ip', 'addr', 'add', `${peerIp}/30`, 'dev', `${link}b`)
      path.exec('ip', 'link', 'set', `${link}b`, 'up')
    } catch (error) {
      path.destroy()
      throw error
    }
    return path
  }

  /** Run a command inside the namespace. */
  exec(command: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.namespace, command, ...args], { encoding: 'utf8', input: '' })
  }

  /** Load an nftables ruleset inside the namespace. */
  nft(ruleset: string): void {
    execFileSync('ip', ['netns', 'exec', this.namespace, 'nft', '-f', '-'], { input: ruleset })
  }

  /**
   * Count, inside the namespace, UDP datagrams in each direction and those
   * whose payload exceeds `bound` bytes (before IP fragmentation on the way
   * out, after reassembly on the way in).
   */
  countDatagrams(bound: number): () => { sent: number; sentOver: number; received: number; receivedOver: number; largestSeen: string } {
    const over = bound + 8 // udp length includes its 8-byte header
    this.nft(`table inet count {
  chain out {
    type filter hook output priority 0
    udp length > ${over} counter
    meta l4proto udp counter
  }
  chain in {
    type filter hook input priority 0
    udp length > ${over} counter
    meta l4proto udp counter
  }
}
`)
    return () => {
      const text = this.exec('nft', 'list', 'table', 'inet', 'count')
      const counts = [...text.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]))
      const [sentOver = 0, sent = 0, receivedOver = 0, received = 0] = counts
      return { sent, sentOver, received, receivedOver, largestSeen: '' }
    }
  }

  /** Start the peer runner inside the namespace. */
  async startPeer(params: PeerStartParams): Promise<LabPeer> {
    const runner = fileURLToPath(new URL('./peer-runner.ts', import.meta.url))
    const cwd = fileURLToPath(new URL('../../../..', import.meta.url))
    const child = spawn('ip', ['netns', 'exec', this.namespace, process.execPath, '--import', 'tsx', runner], { stdio: ['pipe', 'pipe', 'pipe'], cwd })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    const peer = new LabPeer(child)
    const info = (await peer.call('start', { host: this.peerIp, ...params })) as { peerId: string; addresses: string[] }
    peer.peerId = info.peerId
    peer.addresses = info.addresses
    return peer
  }

  /** Kill the namespace's processes and delete it and the veth pair. Safe to call twice. */
  destroy(): void {
    for (const child of this.children) child.kill('SIGKILL')
    try {
      const pids = ip('netns', 'pids', this.namespace).split(/\s+/).filter(Boolean)
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL')
        } catch {
          // gone
        }
      }
    } catch {
      // no namespace
    }
    try {
      ip('link', 'del', `${this.link}a`)
    } catch {
      // gone with the namespace
    }
    try {
      ip('netns', 'del', this.namespace)
    } catch {
      // gone
    }
  }
}

/** What the runner starts: a Crust node with the QUIC (or TCP) transport on the namespace's address. */
export interface PeerStartParams {
  readonly transport?: 'quic' | 'tcp'
  readonly port?: number
  /** PEM file of the node's identity (same file: same peer id after a restart). */
  readonly identityFile?: string
  readonly quic?: Record<string, unknown>
  readonly config?: Record<string, unknown>
  /** After answering a request, close the connection (`close`) or stop the node (`stop`) at once. */
  readonly afterAnswer?: 'close' | 'stop'
}

/** A node running in the namespace. */
export class LabPeer {
  peerId = ''
  addresses: string[] = []
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private nextId = 0
  private stderr = ''

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.receive(line))
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()))
    child.once('exit', (code) => {
      for (const { reject } of this.pending.values()) reject(new Error(`lab peer exited (${code}): ${this.stderr.slice(-2000)}`))
      this.pending.clear()
    })
  }

  call(method: string, params: unknown = {}): Promise<unknown> {
    const id = ++this.nextId
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.child.stdin!.write(`${JSON.stringify({ id, method, params })}\n`)
    })
  }

  /** SIGKILL the process and wait for it to be gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGKILL')
    await exited
  }

  private receive(line: string): void {
    let parsed: { id: number; result?: unknown; error?: { name: string; message: string } }
    try {
      parsed = JSON.parse(line)
    } catch {
      return
    }
    const waiter = this.pending.get(parsed.id)
    if (!waiter) return
    this.pending.delete(parsed.id)
    if (parsed.error) waiter.reject(new Error(`${parsed.error.name}: ${parsed.error.message}`))
    else waiter.resolve(parsed.result)
  }
}
