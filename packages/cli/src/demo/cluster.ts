/**
 * The demo's nodes: each with a name, a key file and a bootstrap cache in
 * the demo's temp directory, TCP and QUIC on 127.0.0.1, and LAN beacons in
 * loopback mode (nothing leaves the machine).
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { type CrustNode, createNode, type NodeConfigInput, type ServiceFactory } from '@crust/core'
import { beacon } from '@crust/discovery-beacon'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'

/** How long a TCP dial may stay unanswered before QUIC is tried too (ms). */
export const FALLBACK_DELAY = 750

/** How one demo node is set up. */
export interface DemoNodeOptions {
  /** Run TCP (default true). */
  readonly tcp?: boolean
  /** Find and announce peers with LAN beacons (default true). */
  readonly beacon?: boolean
  /** Connect to every peer found (default true). */
  readonly autoConnect?: boolean
  readonly services?: readonly ServiceFactory[]
}

/** The nodes of one demo run, stopped together. */
export class Cluster {
  /** A network of its own, so concurrent demos (or tests) never meet. */
  readonly networkName = `crust-demo-${randomBytes(4).toString('hex')}`
  private readonly nodes = new Set<CrustNode>()

  constructor(private readonly dir: string) {}

  /** Create and start node `name` (its key and cache live in the temp directory, so a restart keeps both). */
  async start(name: string, options: DemoNodeOptions = {}): Promise<CrustNode> {
    const config: NodeConfigInput = {
      networkName: this.networkName,
      transports: [...(options.tcp === false ? [] : [tcp({ host: '127.0.0.1' })]), quic({ host: '127.0.0.1' })],
      // Announcements every second (default 5 s): a beacon lost on a busy machine is made up for quickly.
      discovery: options.beacon === false ? [] : [beacon({ loopback: true, autoConnect: options.autoConnect ?? true, interval: 1_000 })],
      services: [...(options.services ?? [])],
      identity: { keyFile: join(this.dir, `${name}.pem`) },
      bootstrap: { cacheDir: this.cacheDir(name) },
      // Wait longer than the default 250 ms before trying QUIC, so a busy machine's slow TLS handshake is not taken for a blocked port.
      connection: { fallbackDelay: FALLBACK_DELAY },
      logLevel: 'silent',
    }
    const node = await createNode(config)
    await node.start()
    this.nodes.add(node)
    return node
  }

  /** Where node `name` keeps its bootstrap cache. */
  cacheDir(name: string): string {
    return join(this.dir, `${name}-cache`)
  }

  /** Stop one node. */
  async stop(node: CrustNode): Promise<void> {
    this.nodes.delete(node)
    await node.stop()
  }

  /** Stop every node still running (a node that takes over 5 s is left behind: the demo must end). */
  async stopAll(): Promise<void> {
    const stopping = Promise.allSettled([...this.nodes].map((node) => node.stop()))
    this.nodes.clear()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([stopping, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))])
    clearTimeout(timer)
  }
}

/**
 * Resolve once `check` holds (polled every 20 ms).
 *
 * @throws Error naming `what` after `timeout` ms.
 */
export async function waitFor(what: string, check: () => boolean, timeout = 10_000): Promise<void> {
  const deadline = performance.now() + timeout
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeout / 1000} s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
