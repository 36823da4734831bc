/**
 * The rendezvous client: registers this node's signed record under its
 * topics with every configured server, discovers the other peers of those
 * topics, and looks peers up by id for the node's dials.
 *
 * Every record received is verified (signature of the peer id it names, this
 * network, not expired, not older than one seen before) before anything is
 * done with it: a server can hide peers, never make this node dial an
 * address the peer did not sign.
 *
 * @packageDocumentation
 */
import {
  AbortError,
  ConfigError,
  type Connector,
  type DiscoveryIdentity,
  type Service,
  type ServiceComponents,
  type ServiceConnection,
  type ServiceStream,
  isReachable,
  shortPeerId,
} from '@crust/core'
import { errorMessage, isLanScoped, isLoopback, parseAddress } from '@crust/core/plugin'
import { RecordError, type RecordRejection, RendezvousError } from './errors.js'
import type { ResolvedRendezvousOptions, ServerContact } from './options.js'
import { type Answer, LOOKUP_ANSWER_BYTES, RENDEZVOUS_PROTOCOL, type Request, frameBytes, paddingFor, readAnswer, writeFrame } from './protocol.js'
import { type PeerRecord, RECORD_LIMITS, RecordBook, type SignedRecord, signRecord, verifyRecord } from './record.js'
import { Waker } from './waker.js'

/** What `peer:discovered` carries in `via` for peers found by rendezvous. */
export const RENDEZVOUS_VIA = 'rendezvous'
/**
 * The NAT hint a record carries (value `yes`) when its node is dialable
 * from anywhere (a port mapping, a public address: see the core's
 * `TraversalReport.reachable`). Peers read it into `DiscoveredPeer.reachable`,
 * so that of two nodes the unreachable one dials the reachable one.
 */
export const REACHABLE_HINT = 'reachable'

/** Records valid for longer than this are refused whatever their signer's `ttl` (ms). */
const MAX_RECORD_TTL = 24 * 3_600_000
/** Priority of the lookup connector: before hole punching (10) and relaying (20). */
const LOOKUP_PRIORITY = 5
/** Longest wait before trying a server again while it is not connected (ms). */
const MAX_RETRY_DELAY = 2_000
/**
 * How long the lookup connector waits for a dial of a record's addresses
 * (ms). Hole punching and relaying run only after it gives up, and an
 * address behind a NAT that drops what it did not ask for fails only at the
 * node's dial timeout (10 s by default): a peer that answers at all answers
 * well within this.
 */
export const LOOKUP_DIAL_TIMEOUT = 2_000
/** How long `stop()` waits for the servers to acknowledge its unregistrations (ms). */
const GOODBYE_TIMEOUT = 1_000

/** Counters of a {@link RendezvousClient}. */
export interface RendezvousStats {
  /** Registrations held now (server x topic). */
  readonly registrations: number
  /** Peers reported as discovered (new or with a newer record). */
  readonly discovered: number
  /** Records received and dropped, by reason: they are never dialled. */
  readonly rejected: Readonly<Record<RecordRejection, number>>
  /** Requests to servers that failed. */
  readonly failedRequests: number
  /** Times this node signed a new record of itself. */
  readonly recordsSigned: number
}

interface ServerState {
  readonly contact: ServerContact
  readonly waker: Waker
  /** Topic -> the registration held on this server. */
  readonly registered: Map<string, { readonly seq: number; readonly at: number; readonly until: number }>
  retryDelay: number
  /** The connection the registrations were made over: a new one may reach a restarted server that lost them. */
  connection?: ServiceConnection
  loop?: Promise<void>
}

interface OwnRecord {
  readonly record: PeerRecord
  readonly signed: SignedRecord
  readonly signedAt: number
  /** What the record says that can change (addresses, NAT hints), to tell when a new one is due. */
  readonly content: string
}

export class RendezvousClient implements Service {
  readonly id = 'rendezvous'
  readonly connector: Connector = {
    priority: LOOKUP_PRIORITY,
    connect: (peerId, { signal }) => this.connectTo(peerId, signal),
  }
  private readonly topics: Set<string>
  private readonly book: RecordBook
  private readonly servers: ServerState[]
  private own: OwnRecord | undefined
  private lastSeq = 0
  private running = false
  private readonly holds: Array<() => void> = []
  private readonly streams = new Set<ServiceStream>()
  private addressTimer: NodeJS.Timeout | undefined
  /** Peers this client asked the node to auto-connect to, while that attempt runs. */
  private readonly autoConnecting = new Set<string>()
  private discovered = 0
  private failedRequests = 0
  private recordsSigned = 0
  private readonly rejected: Record<RecordRejection, number> = {
    malformed: 0,
    signature: 0,
    network: 0,
    expired: 0,
    'too-long': 0,
    'wrong-peer': 0,
    replayed: 0,
  }

  constructor(
    private readonly components: ServiceComponents,
    private readonly options: ResolvedRendezvousOptions,
    topics: Iterable<string>,
  ) {
    this.topics = new Set(topics)
    this.book = new RecordBook(options.maxKnownPeers)
    this.servers = options.servers.map((contact) => ({ contact, waker: new Waker(), registered: new Map(), retryDelay: 0 }))
  }

  private get identity(): DiscoveryIdentity {
    const identity = this.components.identity
    if (identity === undefined) throw new ConfigError('rendezvous() needs a @crust/core that gives services the node identity')
    return identity
  }

  async start(): Promise<void> {
    if (this.components.identity === undefined || this.components.peerDiscovered === undefined) {
      throw new ConfigError('rendezvous() needs a @crust/core that gives services the node identity and peer reports')
    }
    this.running = true
    for (const server of this.servers) {
      if (server.contact.peerId === this.components.peerId) continue // a server that is also a client of itself
      this.holds.push(this.components.keep(server.contact.peerId, server.contact.addresses))
      server.loop = this.run(server)
    }
    this.addressTimer = setInterval(() => this.checkAddresses(), this.options.addressCheckInterval)
    this.addressTimer.unref()
  }

  async stop(): Promise<void> {
    this.running = false
    clearInterval(this.addressTimer)
    for (const stream of this.streams) stream.reset()
    for (const server of this.servers) server.waker.wake()
    await Promise.allSettled(this.servers.map((server) => server.loop))
    await this.unregisterAll()
    for (const release of this.holds.splice(0)) release()
  }

  /**
   * Say goodbye: unregister every topic from every server still connected,
   * so that they stop handing out this node's record now rather than at its
   * expiry. Best effort, for at most {@link GOODBYE_TIMEOUT}: a node that
   * crashes cannot do it either, and its registrations expire with the TTL.
   */
  private async unregisterAll(): Promise<void> {
    const goodbyes: Array<Promise<unknown>> = []
    for (const server of this.servers) {
      const connection = server.connection
      if (connection === undefined || this.components.connection(server.contact.peerId) !== connection) continue
      // Joined topics too: a registration whose answer the stop cut off may be held by the server all the same.
      for (const topic of new Set([...server.registered.keys(), ...this.topics])) goodbyes.push(this.request(connection, { type: 'unregister', topic }, 256))
      server.registered.clear()
    }
    if (goodbyes.length === 0) return
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, GOODBYE_TIMEOUT)
    })
    await Promise.race([Promise.allSettled(goodbyes), bound])
    clearTimeout(timer)
    for (const stream of this.streams) stream.reset()
  }

  /** Register under `topic` too (at once, with every connected server) and discover its peers. */
  join(topic: string): void {
    this.topics.add(topic)
    this.wakeAll()
  }

  /** Stop registering under `topic` (unregistered at once from every connected server). */
  leave(topic: string): void {
    this.topics.delete(topic)
    this.wakeAll()
  }

  /** The topics this node is registered under (or will be, once a server is connected). */
  joined(): string[] {
    return [...this.topics]
  }

  stats(): RendezvousStats {
    let registrations = 0
    for (const server of this.servers) registrations += server.registered.size
    return {
      registrations,
      discovered: this.discovered,
      rejected: { ...this.rejected },
      failedRequests: this.failedRequests,
      recordsSigned: this.recordsSigned,
    }
  }

  /**
   * The current record of `peerId`, asked of every connected server (and
   * verified: signed by that peer, not expired, the newest seen); the one
   * remembered from discovery when no server has one.
   *
   * @throws RendezvousError `not-found`, or `no-server` when no server is connected and none is remembered.
   */
  async lookup(peerId: string, signal?: AbortSignal): Promise<PeerRecord> {
    const connected = this.connectedServers()
    await Promise.allSettled(
      connected.map(async (connection) => {
        const answer = await this.request(connection, { type: 'lookup', peerId }, LOOKUP_ANSWER_BYTES, signal)
        if (answer.type !== 'record') throw new RendezvousError('bad-message', `expected a record, got '${answer.type}'`)
        this.accept(answer.record, peerId)
      }),
    )
    if (signal?.aborted) throw new AbortError()
    const known = this.book.get(peerId)
    if (known !== undefined) return known.record
    if (connected.length === 0) throw new RendezvousError('no-server', 'no rendezvous server is connected')
    throw new RendezvousError('not-found', `no rendezvous server has a valid record of ${shortPeerId(peerId)}`)
  }

  // --- the per-server loop ---------------------------------------------

  private async run(server: ServerState): Promise<void> {
    while (this.running) {
      const connection = this.components.connection(server.contact.peerId)
      let delay = this.options.refreshInterval
      if (connection === undefined) {
        // The node's keeper is connecting it; look again soon.
        server.retryDelay = Math.min(Math.max(server.retryDelay * 2, 100), MAX_RETRY_DELAY)
        delay = server.retryDelay
        server.registered.clear()
        server.connection = undefined
      } else {
        server.retryDelay = 0
        if (server.connection !== connection) server.registered.clear()
        server.connection = connection
        try {
          await this.round(server, connection)
        } catch (error) {
          if (!this.running) return
          this.components.logger.debug(`rendezvous: round with ${shortPeerId(server.contact.peerId)} failed: ${errorMessage(error)}`)
          delay = Math.min(delay, MAX_RETRY_DELAY)
        }
        if (this.own !== undefined) delay = Math.min(delay, Math.max(0, this.refreshDue(this.own) - Date.now()))
      }
      await server.waker.sleep(delay)
    }
  }

  /** Register (or refresh) under every topic, unregister left ones, discover every topic. */
  private async round(server: ServerState, connection: ServiceConnection): Promise<void> {
    const own = this.ownRecord()
    for (const topic of [...this.topics]) {
      const held = server.registered.get(topic)
      const now = Date.now()
      if (held !== undefined && held.seq === own.record.seq && now < held.at + (held.until - held.at) / 2) continue
      const ttl = Math.max(1, own.record.expires - now)
      const answer = await this.request(connection, { type: 'register', topic, record: own.signed, ttl }, 256)
      if (answer.type !== 'registered') throw new RendezvousError('bad-message', `expected 'registered', got '${answer.type}'`)
      if (this.topics.has(topic)) server.registered.set(topic, { seq: own.record.seq, at: now, until: now + answer.ttl })
    }
    for (const topic of [...server.registered.keys()]) {
      if (this.topics.has(topic)) continue
      await this.request(connection, { type: 'unregister', topic }, 256)
      server.registered.delete(topic)
    }
    for (const topic of [...this.topics]) await this.discover(connection, topic)
  }

  /** Every page of `topic` (at most `maxPages`), each record verified and reported. */
  private async discover(connection: ServiceConnection, topic: string): Promise<void> {
    let cookie: string | undefined
    const wanted = Math.max(this.options.pageSize * 1024, RECORD_LIMITS.maxRecordChars + 512)
    for (let page = 0; page < this.options.maxPages && this.running; page++) {
      const answer = await this.request(connection, { type: 'discover', topic, limit: this.options.pageSize, ...(cookie !== undefined && { cookie }) }, wanted)
      if (answer.type !== 'peers') throw new RendezvousError('bad-message', `expected 'peers', got '${answer.type}'`)
      for (const input of answer.records) this.found(input)
      // No progress (the server could not fit one record) ends the walk as surely as the last page.
      if (!answer.more || answer.cookie === undefined || answer.cookie === cookie) return
      cookie = answer.cookie
    }
  }

  /** A record from a DISCOVER page: verified, then reported (when new or newer) and connected (when asked). */
  private found(input: unknown): void {
    const accepted = this.accept(input)
    if (accepted === undefined) return
    const { record, news } = accepted
    if (this.components.isBlacklisted({ peerId: record.peerId })) return
    // Only signed hints are read; an older peer's record has none (unknown: the lower-id tie-break).
    const reachable = record.nat[REACHABLE_HINT]
    const peer = { peerId: record.peerId, addresses: record.addresses, via: RENDEZVOUS_VIA, ...(reachable !== undefined && { reachable: reachable === 'yes' }) }
    if (news !== 'same') {
      this.discovered++
      this.components.peerDiscovered?.(peer)
    }
    if (this.options.autoConnect && this.components.connection(record.peerId) === undefined && !this.autoConnecting.has(record.peerId)) {
      const attempt = this.components.connectDiscovered?.(peer)
      if (attempt === undefined) return
      this.autoConnecting.add(record.peerId)
      void attempt.finally(() => this.autoConnecting.delete(record.peerId))
    }
  }

  /** Verify a received record and offer it to the book; undefined (counted) when rejected or our own. */
  private accept(input: unknown, expectedPeerId?: string): { record: PeerRecord; news: 'new' | 'updated' | 'same' } | undefined {
    try {
      const known = this.book.known(input)
      if (known !== undefined) {
        // Verified when first seen (signature, network, bounds); only time and the peer asked for can differ now.
        if (known.expires <= Date.now()) throw new RecordError('expired', `record of ${known.peerId} expired`)
        if (expectedPeerId !== undefined && known.peerId !== expectedPeerId) throw new RecordError('wrong-peer', `record of ${known.peerId}, expected ${expectedPeerId}`)
        return { record: known, news: 'same' }
      }
      const record = verifyRecord(input, {
        verify: this.identity.verify,
        network: this.components.networkHash,
        maxTtl: MAX_RECORD_TTL,
        ...(expectedPeerId !== undefined && { peerId: expectedPeerId }),
      })
      if (record.peerId === this.components.peerId) return undefined
      return { record, news: this.book.offer(record, input as SignedRecord) }
    } catch (error) {
      if (!(error instanceof RecordError)) throw error
      this.rejected[error.reason]++
      this.components.logger.debug(`rendezvous: ${error.message}`)
      return undefined
    }
  }

  // --- lookup for the node's dials ---------------------------------------

  /**
   * The lookup connector: the peer's current record, then all its addresses
   * dialled at once (the first to answer wins, the others are cancelled),
   * for at most {@link LOOKUP_DIAL_TIMEOUT} so that hole punching and
   * relaying get their turn when the addresses are behind a NAT. Nothing to
   * add (at once) while an auto-connect this client started is running.
   */
  private async connectTo(peerId: string, signal: AbortSignal): Promise<ServiceConnection> {
    // Within an auto-connect this client started, the node has just dialled the record's addresses (as many as its
    // auto-connect budget allows): dialling them again only delays hole punching and relaying.
    if (this.autoConnecting.has(peerId)) throw new RendezvousError('unreachable', `${shortPeerId(peerId)}'s record is what the auto-connect dialled`)
    const record = await this.lookup(peerId, signal)
    if (record.addresses.length === 0) throw new RendezvousError('unreachable', `${shortPeerId(peerId)}'s record has no address`)
    const dials = new AbortController()
    const stop = (): void => dials.abort()
    signal.addEventListener('abort', stop, { once: true })
    const deadline = setTimeout(stop, LOOKUP_DIAL_TIMEOUT)
    const failures: string[] = []
    try {
      return await Promise.any(
        record.addresses.map((address) =>
          this.components.dial(address, { peerId, signal: dials.signal }).catch((error: unknown) => {
            failures.push(`${address}: ${errorMessage(error)}`)
            throw error
          }),
        ),
      )
    } catch {
      if (signal.aborted) throw new AbortError()
      const late = dials.signal.aborted ? `; gave up after ${LOOKUP_DIAL_TIMEOUT} ms` : ''
      throw new RendezvousError('unreachable', `no address of ${shortPeerId(peerId)}'s record answered (${failures.join('; ')}${late})`)
    } finally {
      clearTimeout(deadline)
      signal.removeEventListener('abort', stop)
      // A dial that lost the race is cancelled; one that already won is the pooled connection returned.
      dials.abort()
    }
  }

  // --- this node's record -------------------------------------------------

  /** This node's record: the held one, or a new one when its contents changed or half its life has passed. */
  private ownRecord(): OwnRecord {
    const addresses = publishable(this.components.addresses())
    const status = this.components.traversal()
    // The reachability hint first: a record keeps only the first hints (`RECORD_LIMITS.maxHints`).
    const nat = Object.fromEntries([[REACHABLE_HINT, isReachable(status) ? 'yes' : 'no'], ...Object.entries(status).map(([kind, report]) => [kind, report.state])])
    const content = JSON.stringify([addresses, nat])
    const now = Date.now()
    if (this.own !== undefined && this.own.content === content && now < this.refreshDue(this.own)) return this.own
    // Milliseconds, so a restarted node's records still outrank those it made before.
    const seq = Math.max(now, this.lastSeq + 1)
    this.lastSeq = seq
    const fields = { network: this.components.networkHash, addresses, nat, seq, expires: now + this.options.ttl }
    const signed = signRecord(this.identity, fields)
    this.recordsSigned++
    this.own = { record: { peerId: this.components.peerId, ...fields }, signed, signedAt: now, content }
    return this.own
  }

  /** When `own` must be replaced: at half its life. */
  private refreshDue(own: OwnRecord): number {
    return own.signedAt + (own.record.expires - own.signedAt) / 2
  }

  /** Wake the loops when the node's addresses or NAT hints changed: the record must say so at once. */
  private checkAddresses(): void {
    if (this.own === undefined) return
    const before = this.own
    if (this.ownRecord() !== before) this.wakeAll()
  }

  private wakeAll(): void {
    for (const server of this.servers) server.waker.wake()
  }

  // --- requests -------------------------------------------------------------

  private connectedServers(): ServiceConnection[] {
    const connections: ServiceConnection[] = []
    for (const server of this.servers) {
      const connection = this.components.connection(server.contact.peerId)
      if (connection !== undefined) connections.push(connection)
    }
    return connections
  }

  /** One request and its answer; the request is padded to pay for an answer of `answerBytes`. */
  private async request(connection: ServiceConnection, frame: Request, answerBytes: number, signal?: AbortSignal): Promise<Exclude<Answer, { type: 'error' }>> {
    const pad = paddingFor(frameBytes(frame), answerBytes, this.options.amplification)
    const stream = await connection.openProtocolStream(RENDEZVOUS_PROTOCOL, signal === undefined ? undefined : { signal })
    this.streams.add(stream)
    try {
      await writeFrame(stream, pad === undefined ? frame : { ...frame, pad }, true)
      return await readAnswer(stream, this.options.requestTimeout)
    } catch (error) {
      this.failedRequests++
      throw error
    } finally {
      this.streams.delete(stream)
    }
  }
}

/**
 * The addresses worth putting in a record, best first. Loopback ones only
 * say where this host reaches itself (a peer elsewhere dialling them reaches
 * its own host), so they go unless there is nothing else (every node on one
 * machine). Addresses others can reach from anywhere (a UPnP mapping, a
 * public interface) come before LAN-scoped ones: peers that auto-connect dial
 * only the first few.
 */
export function publishable(addresses: readonly string[]): string[] {
  const hostOf = (address: string): string => parseAddress(address)?.host ?? ''
  const elsewhere = addresses.filter((address) => !isLoopback(hostOf(address)))
  if (elsewhere.length === 0) return [...addresses]
  return [...elsewhere.filter((address) => !isLanScoped(hostOf(address))), ...elsewhere.filter((address) => isLanScoped(hostOf(address)))]
}
