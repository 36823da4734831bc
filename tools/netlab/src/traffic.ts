/**
 * Message traffic for the resilience scenarios, run inside a lab node: a
 * steady flow of one-way messages or a batch of requests to one peer, each
 * outcome recorded, and on the receiving side what arrived and how often.
 *
 * Peer-addressed `node.send` / `node.request` / `node.keep` are used when the
 * node has them (feature-detected: they land separately); otherwise the flow
 * uses the current connection and re-dials the peer itself when it has none.
 */
import type { Connection, CrustNode } from '@crust/core'

/** A peer to address: its id and the addresses to re-dial it at. */
export interface TrafficPeer {
  readonly peerId: string
  readonly addresses: readonly string[]
}

/** What the node offers beyond `conn.send`: the peer-addressed API of issue 13. */
export interface NodeFeatures {
  /** `node.send(peerId, data, { timeout })` exists. */
  readonly nodeSend: boolean
  /** `node.request(peerId, data, { timeout })` exists. */
  readonly nodeRequest: boolean
  /** `node.keep(peer)` exists. */
  readonly keep: boolean
}

interface PeerApi {
  send?(peerId: string, data: Uint8Array, options?: { timeout?: number }): Promise<void>
  request?(peerId: string, data: Uint8Array, options?: { timeout?: number }): Promise<Uint8Array>
  keep?(peer: string | { peerId: string; addresses: readonly string[] }): unknown
}

/** The peer-addressed methods of `node`, when it has them. */
export function peerApi(node: CrustNode): PeerApi {
  return node as unknown as PeerApi
}

export function featuresOf(node: CrustNode): NodeFeatures {
  const api = peerApi(node)
  return { nodeSend: typeof api.send === 'function', nodeRequest: typeof api.request === 'function', keep: typeof api.keep === 'function' }
}

/** One send of a flow: when it started and ended (epoch ms) and how. */
export interface SendRecord {
  readonly seq: number
  readonly startedAt: number
  endedAt?: number
  outcome?: 'resolved' | 'rejected'
  error?: string
}

/** Options of {@link Flow}. */
export interface FlowOptions {
  readonly peer: TrafficPeer
  /** Pause between sends, drawn uniformly from [min, max] ms. */
  readonly intervalMs: readonly [number, number]
  /** Deadline of each `node.send` (ms); ignored by the `conn.send` fallback, which ends when the connection does. */
  readonly timeoutMs: number
  /** Force the `conn.send` fallback even when `node.send` exists. */
  readonly connectionOnly?: boolean
}

/** The first line of a flow message: `flow:<seq>:<sentAt>`. */
export const FLOW_PREFIX = 'flow:'
/** The first line of a batch request: `req:<n>`. */
export const REQUEST_PREFIX = 'req:'

/**
 * Re-dials a peer on behalf of the `conn.send` fallback, one attempt at a
 * time, so a flow that finds no connection asks for one without piling up dials.
 */
class Redialer {
  private dialing: Promise<unknown> | undefined

  constructor(
    private readonly node: CrustNode,
    private readonly peer: TrafficPeer,
  ) {}

  connection(): Connection | undefined {
    const current = this.node.getConnection(this.peer.peerId)
    if (!current) this.redial()
    return current
  }

  redial(): void {
    if (this.dialing) return
    this.dialing = this.node
      .connect({ peerId: this.peer.peerId, addresses: [...this.peer.addresses] }, { retry: false })
      .catch(() => new Promise((resolve) => setTimeout(resolve, 200)))
      .finally(() => (this.dialing = undefined))
  }
}

/** A steady flow of one-way messages to one peer. */
export class Flow {
  readonly sends: SendRecord[] = []
  readonly usesNodeSend: boolean
  private stopped = false
  private readonly pending = new Set<Promise<void>>()
  private readonly loop: Promise<void>
  private readonly redialer: Redialer

  constructor(
    private readonly node: CrustNode,
    private readonly options: FlowOptions,
  ) {
    this.usesNodeSend = !options.connectionOnly && featuresOf(node).nodeSend
    this.redialer = new Redialer(node, options.peer)
    this.loop = this.run()
  }

  /** Stop sending, wait (bounded) for the sends in flight to settle, and return every record. */
  async stop(settleMs: number): Promise<SendRecord[]> {
    this.stopped = true
    await this.loop
    await Promise.race([Promise.allSettled([...this.pending]), new Promise((resolve) => setTimeout(resolve, settleMs))])
    return this.sends
  }

  private async run(): Promise<void> {
    const [min, max] = this.options.intervalMs
    let seq = 0
    while (!this.stopped) {
      const record: SendRecord = { seq: ++seq, startedAt: Date.now() }
      this.sends.push(record)
      const sending = this.sendOne(record)
      this.pending.add(sending)
      void sending.finally(() => this.pending.delete(sending))
      await new Promise((resolve) => setTimeout(resolve, min + Math.random() * (max - min)))
    }
  }

  private async sendOne(record: SendRecord): Promise<void> {
    const data = Buffer.from(`${FLOW_PREFIX}${record.seq}:${record.startedAt}`)
    try {
      if (this.usesNodeSend) {
        await peerApi(this.node).send?.(this.options.peer.peerId, data, { timeout: this.options.timeoutMs })
      } else {
        const connection = this.redialer.connection()
        if (!connection) throw new Error('no connection')
        await connection.send(data)
      }
      record.outcome = 'resolved'
    } catch (error) {
      record.outcome = 'rejected'
      record.error = (error as { code?: string }).code ?? (error as Error).message
      if (!this.usesNodeSend) this.redialer.redial()
    } finally {
      record.endedAt = Date.now()
    }
  }
}

/** What a batch of requests came to. */
export interface RequestBatchResult {
  readonly usesNodeRequest: boolean
  readonly answered: number
  /** Answers that did not echo the request (must be 0). */
  readonly wrong: number
  readonly failed: number
  /** Failure count by error code or message. */
  readonly errors: Readonly<Record<string, number>>
  readonly ms: number
}

/** Send `count` requests to `peer`, `concurrency` at a time, and count the answers. */
export async function requestBatch(
  node: CrustNode,
  peer: TrafficPeer,
  options: { count: number; concurrency: number; timeoutMs: number },
): Promise<RequestBatchResult> {
  const usesNodeRequest = featuresOf(node).nodeRequest
  const redialer = new Redialer(node, peer)
  const errors: Record<string, number> = {}
  let answered = 0
  let wrong = 0
  let next = 0
  const started = Date.now()
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const body = `${REQUEST_PREFIX}${++next}`
      try {
        let answer: Uint8Array | undefined
        if (usesNodeRequest) answer = await peerApi(node).request?.(peer.peerId, Buffer.from(body), { timeout: options.timeoutMs })
        else {
          const connection = redialer.connection()
          if (!connection) throw new Error('no connection')
          answer = await connection.request(Buffer.from(body), { timeout: options.timeoutMs })
        }
        if (answer && Buffer.from(answer).toString() === `echo:${body}`) answered++
        else wrong++
      } catch (error) {
        const key = (error as { code?: string }).code ?? (error as Error).message
        errors[key] = (errors[key] ?? 0) + 1
        if (!usesNodeRequest) redialer.redial()
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  return { usesNodeRequest, answered, wrong, failed: options.count - answered - wrong, errors, ms: Date.now() - started }
}

/** `[seq, sentAt]` of a flow message, or undefined for any other message. */
export function parseFlow(data: string): [seq: number, sentAt: number] | undefined {
  if (!data.startsWith(FLOW_PREFIX)) return undefined
  const [seq, sentAt] = data.slice(FLOW_PREFIX.length).split(':').map(Number)
  return seq === undefined || sentAt === undefined ? undefined : [seq, sentAt]
}

/** How often each batch request reached the handler. */
export class RequestCounter {
  private readonly seen = new Map<number, number>()

  request(data: string): void {
    if (!data.startsWith(REQUEST_PREFIX)) return
    const n = Number(data.slice(REQUEST_PREFIX.length))
    this.seen.set(n, (this.seen.get(n) ?? 0) + 1)
  }

  /** Distinct requests handled and extra copies, then forget them. */
  take(): { requests: number; duplicates: number } {
    const duplicates = [...this.seen.values()].reduce((sum, count) => sum + count - 1, 0)
    const result = { requests: this.seen.size, duplicates }
    this.seen.clear()
    return result
  }
}
