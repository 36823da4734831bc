/**
 * The rendezvous server: stores peers' signed records under topics and
 * hands them out by topic (paginated) or by peer id.
 *
 * Hostile by default: a peer registers only its own record (the record's
 * peer id is the connection's authenticated one), registrations are bounded
 * per peer, per topic and in all, each peer's requests are rate limited, and
 * an answer is never larger than `amplification` times its request.
 * Requests arrive only over the node's authenticated connections (TCP or
 * QUIC after TLS): no answer ever goes to an unverified address.
 *
 * @packageDocumentation
 */
import type { Service, ServiceComponents, ServiceConnection, ServiceStream } from '@crust/core'
import { ConfigError } from '@crust/core'
import { errorMessage } from '@crust/core/plugin'
import { RecordError, RendezvousError } from './errors.js'
import { KeyedRateLimiter } from './limiter.js'
import type { ResolvedRendezvousServerOptions } from './options.js'
import { type Answer, RENDEZVOUS_PROTOCOL, type Request, frameBytes, readRequest, writeFrame } from './protocol.js'
import { type SignedRecord, verifyRecord } from './record.js'
import { Registry, type RegistryStats } from './registry.js'

/** How often expired registrations are dropped (ms). */
const SWEEP_INTERVAL = 30_000

/** Counters of a {@link RendezvousServer}. */
export interface RendezvousServerStats extends RegistryStats {
  /** Requests answered, by type. */
  readonly requests: Readonly<Record<Request['type'], number>>
  /** Requests refused, by reason. */
  readonly refused: Readonly<Record<string, number>>
  /** Bytes of the requests read (`in`) and the answers written (`out`), refusals included: what this service costs in traffic. */
  readonly bytes: { readonly in: number; readonly out: number }
}

export class RendezvousServer implements Service {
  readonly id = 'rendezvous-server'
  private readonly registry: Registry
  private readonly limiter: KeyedRateLimiter
  private readonly cleanups: Array<() => void> = []
  private sweeper: NodeJS.Timeout | undefined
  private active = 0
  private readonly requests: Record<Request['type'], number> = { register: 0, unregister: 0, discover: 0, lookup: 0 }
  private readonly refused: Record<string, number> = {}
  private bytesIn = 0
  private bytesOut = 0

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedRendezvousServerOptions,
  ) {
    this.registry = new Registry(options)
    this.limiter = new KeyedRateLimiter({ perSecond: options.ratePerSecond, burst: options.burst })
  }

  async start(): Promise<void> {
    if (this.components.identity === undefined) throw new ConfigError('rendezvousServer() needs a @crust/core that gives services the node identity')
    this.cleanups.push(this.components.handleProtocol(RENDEZVOUS_PROTOCOL, (stream, connection) => void this.serve(stream, connection)))
    this.sweeper = setInterval(() => this.registry.sweep(), SWEEP_INTERVAL)
    this.sweeper.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper)
    for (const cleanup of this.cleanups.splice(0)) cleanup()
  }

  /** The `limit` topics with the most registrations, largest first. */
  largestTopics(limit: number): Array<{ readonly topic: string; readonly registrations: number }> {
    return this.registry.largestTopics(limit)
  }

  stats(): RendezvousServerStats {
    return { ...this.registry.stats(), requests: { ...this.requests }, refused: { ...this.refused }, bytes: { in: this.bytesIn, out: this.bytesOut } }
  }

  private async serve(stream: ServiceStream, connection: ServiceConnection): Promise<void> {
    if (this.active >= this.options.maxConcurrent) {
      this.count('refused')
      stream.reset()
      return
    }
    this.active++
    try {
      const { frame, bytes } = await readRequest(stream, this.options.requestTimeout)
      this.bytesIn += bytes
      let answer: Answer
      try {
        if (!this.limiter.take(connection.peerId)) throw new RendezvousError('rate-limited', 'too many requests')
        answer = this.answer(frame, bytes, connection.peerId)
        this.requests[frame.type]++
      } catch (error) {
        if (!(error instanceof RendezvousError)) throw error
        this.count(error.reason)
        // Even a refusal stays within what the request paid for.
        const room = Math.max(0, Math.min(512, bytes * this.options.amplification - 96))
        answer = { type: 'error', reason: error.reason === 'no-server' || error.reason === 'unreachable' ? 'refused' : error.reason, message: error.message.slice(0, room) }
      }
      this.bytesOut += await writeFrame(stream, answer, true)
    } catch (error) {
      // A malformed request or a dead stream: nothing more is owed to this peer.
      this.count(error instanceof RendezvousError ? error.reason : 'bad-message')
      this.components.logger.debug(`rendezvous-server: request from ${connection.peerId} failed: ${errorMessage(error)}`)
      stream.reset()
    } finally {
      this.active--
    }
  }

  private answer(request: Request, bytes: number, peerId: string): Answer {
    switch (request.type) {
      case 'register':
        return this.register(request.topic, request.record, request.ttl, peerId)
      case 'unregister':
        this.registry.unregister(request.topic, peerId)
        return { type: 'unregistered' }
      case 'discover': {
        // The answer's budget: what the request paid for, less the frame around the records.
        const budget = Math.min(bytes * this.options.amplification, this.options.maxAnswerBytes) - 128
        const page = this.registry.discover(request.topic, request.cookie, request.limit, budget)
        const answer: Answer = { type: 'peers', records: [...page.records], more: page.more, ...(page.cookie !== undefined && { cookie: page.cookie }) }
        return answer
      }
      case 'lookup': {
        const record = this.registry.lookup(request.peerId)
        if (record === undefined) throw new RendezvousError('not-found', `no live record of ${request.peerId}`)
        const answer: Answer = { type: 'record', record }
        if (frameBytes(answer) > Math.min(bytes * this.options.amplification, this.options.maxAnswerBytes)) {
          throw new RendezvousError('bad-message', 'the request is too small for the answer: pad it')
        }
        return answer
      }
    }
  }

  private register(topic: string, signed: SignedRecord, ttl: number, peerId: string): Answer {
    const identity = this.components.identity
    if (identity === undefined) throw new RendezvousError('refused', 'server not started')
    let record: ReturnType<typeof verifyRecord>
    try {
      record = verifyRecord(signed, { verify: identity.verify, network: this.components.networkHash, maxTtl: this.options.maxTtl, peerId })
    } catch (error) {
      if (!(error instanceof RecordError)) throw error
      throw new RendezvousError(error.reason === 'wrong-peer' ? 'wrong-peer' : 'invalid-record', error.message)
    }
    const now = Date.now()
    const until = this.registry.register(topic, record, signed, now + Math.min(ttl, this.options.maxTtl), now)
    return { type: 'registered', ttl: Math.max(1, until - now) }
  }

  private count(reason: string): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1
  }
}
