/**
 * Peers the application wants connected (`node.keep(peer)`, `keep` in the
 * config): when the last connection to one closes, it is re-established
 * through the whole ladder (direct addresses, then the services' hole
 * punching and relaying), with backoff, until it is back, the peer is
 * released, blacklisted, or the node stops.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import { Tokens } from '../di/tokens.js'
import { asError } from '../error-text.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { Connection } from '../connection/connection.js'
import type { Blacklist } from './blacklist.js'
import type { Dialer, PeerContact } from './dialer.js'
import type { Establisher } from './establisher.js'
import type { KeepAlive } from './keep-alive.js'
import type { ConnectionPool } from './pool.js'
import type { RunState } from './run-state.js'
import { sleepUnlessAborted } from '../events/sleep.js'

/** Addresses remembered per kept peer (its contact's, what it claimed, where we reached it). */
const MAX_ADDRESSES = 16
/** First wait before redialling a kept peer after a failed attempt (ms); doubles up to {@link MAX_DELAY}. */
const FIRST_DELAY = 250
const MAX_DELAY = 1_000

/** The holder of the application's keeps (`node.keep`, config `keep`); services hold under their own names. */
export const APPLICATION = 'application'

interface Kept {
  readonly addresses: Set<string>
  /** Who wants the peer kept: {@link APPLICATION}, or a service's hold (a relay or rendezvous it relies on). */
  readonly holders: Set<string>
  timer: NodeJS.Timeout | undefined
  dialing: boolean
  failures: number
  /** Rounds of quick checks since the peer was last connected (see {@link OWN_SOCKET_AFTER}). */
  quickRounds: number
}

/** How often a quick direct dial checks whether a kept peer is back (ms, per transport), and how long each may take. */
const QUICK_CHECK_INTERVAL = 500
const QUICK_CHECK_TIMEOUT = 1_000
/**
 * Rounds of failed quick checks (2 s) after which a QUIC check also dials
 * from a socket of its own (`DialOptions.localPort` 0): a router may still
 * forward the shared socket's packets to the peer's previous run (a conntrack
 * entry that outlives the peer's port mapping, and that these very checks
 * keep alive), while a new source port takes the peer's new mapping. Not at
 * once: a connection on its own socket is off the shared one, whose mapping
 * is what hole punching relies on, so it is the fallback, not the rule.
 */
const OWN_SOCKET_AFTER = 4

/** Keeps the application's chosen peers connected. */
@injectable()
export class PeerKeeper {
  private readonly kept = new Map<string, Kept>()
  private unsubscribe: Array<() => void> = []

  private readonly dialTimeout: number

  constructor(
    @inject(Tokens.Config) config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Blacklist) private readonly blacklist: Blacklist,
    @inject(Tokens.Pool) private readonly pool: ConnectionPool,
    @inject(Tokens.RunState) private readonly state: RunState,
    @inject(Tokens.Establisher) private readonly establisher: Establisher,
    @inject(Tokens.Dialer) private readonly dialer: Dialer,
    @inject(Tokens.KeepAlive) private readonly keepAlive: KeepAlive,
  ) {
    this.dialTimeout = config.connection.dialTimeout
    for (const entry of config.keep) this.add(typeof entry === 'string' ? { peerId: entry, addresses: [] } : entry, APPLICATION)
  }

  /** Addresses remembered for a kept peer. */
  addressesOf(peerId: string): string[] {
    return [...(this.kept.get(peerId)?.addresses ?? [])]
  }

  /** Peer ids the application keeps now (services' holds are not listed). */
  get peers(): string[] {
    return [...this.kept].flatMap(([peerId, entry]) => (entry.holders.has(APPLICATION) ? [peerId] : []))
  }

  /**
   * Keep `peer` connected from now on, on behalf of `holder` (default: the
   * application); connects at once when the node runs and has no connection to it.
   */
  keep(peer: PeerContact & { readonly peerId: string }, holder: string = APPLICATION): void {
    this.add(peer, holder)
    this.ensure(peer.peerId, 0)
  }

  /**
   * `holder` (default: the application) no longer needs `peerId` kept; it
   * stops being kept when no one else does (its connection stays until it closes).
   */
  release(peerId: string, holder: string = APPLICATION): void {
    const entry = this.kept.get(peerId)
    if (entry === undefined) return
    entry.holders.delete(holder)
    if (entry.holders.size > 0) return
    clearTimeout(entry.timer)
    this.kept.delete(peerId)
    this.keepAlive.unwatchPeer(peerId)
  }

  isKept(peerId: string): boolean {
    return this.kept.has(peerId)
  }

  /** The node started: follow the pool and connect every kept peer. */
  start(): void {
    this.unsubscribe = [
      this.events.on('peer:disconnected', ({ peerId }) => this.ensure(peerId, 0)),
      this.events.on('connection:open', ({ connection }) => this.learn(connection.peerId, connection)),
      this.keepAlive.onSuspect((connection) => this.hedge(connection.peerId)),
    ]
    for (const peerId of this.kept.keys()) this.ensure(peerId, 0)
  }

  /** The node is stopping: no more redials. */
  stop(): void {
    for (const off of this.unsubscribe) off()
    this.unsubscribe = []
    for (const entry of this.kept.values()) {
      clearTimeout(entry.timer)
      entry.timer = undefined
    }
  }

  private add(peer: PeerContact & { readonly peerId: string }, holder: string): void {
    let entry = this.kept.get(peer.peerId)
    this.keepAlive.watchPeer(peer.peerId)
    if (entry === undefined) {
      entry = { addresses: new Set(), holders: new Set(), timer: undefined, dialing: false, failures: 0, quickRounds: 0 }
      this.kept.set(peer.peerId, entry)
    }
    entry.holders.add(holder)
    for (const address of peer.addresses) remember(entry.addresses, address)
  }

  /** Remember where a kept peer can be reached: what it claims, and the address we reached it at. */
  private learn(peerId: string, connection: Parameters<Establisher['reachableAt']>[0]): void {
    const entry = this.kept.get(peerId)
    if (entry === undefined) return
    entry.failures = 0
    entry.quickRounds = 0
    for (const address of this.establisher.reachableAt(connection)) remember(entry.addresses, address)
  }

  /** Connect `peerId` after `delay` ms unless it is connected, being dialled, released or the node stopped. */
  private ensure(peerId: string, delay: number): void {
    const entry = this.kept.get(peerId)
    if (entry === undefined || entry.dialing || entry.timer !== undefined || !this.state.running) return
    if (this.pool.get(peerId) !== undefined) return
    entry.timer = setTimeout(() => {
      entry.timer = undefined
      void this.redial(peerId, entry)
    }, delay)
    entry.timer.unref?.()
  }

  /**
   * A kept peer's connection went silent (its probe unanswered): start a
   * fresh attempt through the ladder now, beside it, rather than when it is
   * declared dead. When the peer's side moved (its NAT changed its mapping),
   * the pair is reconnected seconds sooner; when the old path is alive after
   * all, the newcomer loses the liveness contest and is closed.
   */
  private hedge(peerId: string): void {
    const entry = this.kept.get(peerId)
    if (entry === undefined || entry.dialing || !this.state.running) return
    clearTimeout(entry.timer)
    entry.timer = undefined
    void this.redial(peerId, entry, true)
  }

  private async redial(peerId: string, entry: Kept, fresh = false): Promise<void> {
    if (!this.state.running || this.kept.get(peerId) !== entry || (!fresh && this.pool.get(peerId) !== undefined)) return
    if (this.blacklist.blocksPeer(peerId)) return
    entry.dialing = true
    const addresses = [...entry.addresses]
    const attempt = new AbortController()
    const suspect = fresh ? this.pool.get(peerId) : undefined
    // Beside a fresh attempt too: its direct dial can wait out the dial timeout on an address that no
    // longer answers (QUIC to a moved or remapped port), and the suspect may be declared dead meanwhile.
    const quick = this.quickChecks(peerId, entry, addresses, attempt, suspect)
    try {
      // One attempt through the whole ladder (hole punching and relays need their time), while quick
      // direct dials check every half second whether the peer is back at an address it had.
      await this.dialer.connect(
        { peerId, addresses },
        { retry: false, fresh, signal: AbortSignal.any([attempt.signal, AbortSignal.timeout(this.dialTimeout)]) },
      )
      entry.failures = 0
    } catch (error) {
      if (suspect !== undefined && this.pool.get(peerId) === suspect) {
        // The suspect connection is still there: try again while it stays silent (the peer's side may
        // need a moment to reconnect to its rendezvous); dead-path detection ends it in any case.
        const delay = nextDelay(entry)
        this.logger.debug(`kept peer ${peerId}: a fresh attempt beside its silent connection failed (${asError(error).message}); next in ${delay} ms`)
        const silentSince = suspect.lastHeardAt()
        attempt.abort()
        await quick
        entry.dialing = false
        entry.timer = setTimeout(() => {
          entry.timer = undefined
          if (this.pool.get(peerId) === suspect && suspect.lastHeardAt() === silentSince) void this.redial(peerId, entry, true)
          else this.ensure(peerId, 0)
        }, delay)
        entry.timer.unref?.()
        return
      }
      if (this.pool.get(peerId) === undefined) {
        const delay = nextDelay(entry)
        this.logger.debug(`kept peer ${peerId}: reconnect attempt ${entry.failures} failed (${asError(error).message}); next in ${delay} ms`)
        attempt.abort()
        await quick
        entry.dialing = false
        this.ensure(peerId, delay)
        return
      }
    }
    attempt.abort()
    await quick
    entry.dialing = false
  }

  /**
   * While a full attempt runs: every {@link QUICK_CHECK_INTERVAL} ms, a direct
   * dial per transport to the addresses the peer had, each bounded by
   * {@link QUICK_CHECK_TIMEOUT}. A dial to a peer that is down is not
   * answered and backs off its own retries (QUIC's Initial: 1, 2, 4 s...);
   * fresh short dials find it soon after its return. The checks overlap
   * rather than wait for each other, so one whose SYN went into a gap (the
   * peer's mapping being remade) does not delay the next, and each transport
   * checks on its own (UDP has no refusal, TCP is refused at once); QUIC
   * also dials from a socket of its own after a while ({@link OWN_SOCKET_AFTER}). Beside a
   * fresh attempt, the checks dial past the `suspect` connection. Stops when
   * a check connects or the peer is connected other than by `suspect`
   * (ending the full attempt too), or the attempt ends; checks under way
   * run to their end.
   */
  private async quickChecks(peerId: string, entry: Kept, addresses: readonly string[], attempt: AbortController, suspect: Connection | undefined): Promise<void> {
    const stop = attempt.signal
    const transports = [...new Set(addresses.map((address) => address.slice(0, Math.max(0, address.indexOf('://')))).filter(Boolean))]
    const connected = (): boolean => {
      const pooled = this.pool.get(peerId)
      return pooled !== undefined && pooled !== suspect
    }
    const checks = new Set<Promise<void>>()
    // Only for the application's peers: a service's (a rendezvous, a relay) is a public node, and its
    // connection must stay on the shared socket, whose mapping is what the rendezvous tells others.
    const mayUseOwnSocket = entry.holders.has(APPLICATION)
    const check = (transport: string, at: readonly string[], ownSocket = false): void => {
      // Bounded by its own deadline only: a check is never cancelled because another one got through.
      // Cancelled mid-handshake, it would close a connection the peer may already have pooled (and
      // preferred: the later dial wins the tie-break on both ends); run to the end, both ends settle
      // the duplicate alike, and the calls on the loser move over.
      const signal = AbortSignal.timeout(QUICK_CHECK_TIMEOUT)
      const done = this.dialer.dialDirect({ peerId, addresses: at }, transport, signal, { ownSocket }).then(
        // Back (beside a suspect, the liveness contest keeps one of the two): the full attempt is no
        // longer needed, its late connection would only be a duplicate.
        () => attempt.abort(),
        () => {
          if (connected()) attempt.abort()
        },
      )
      checks.add(done)
      void done.finally(() => checks.delete(done))
    }
    const byTransport = transports.map((transport) => [transport, addresses.filter((a) => a.startsWith(`${transport}://`))] as const)
    for (;;) {
      await sleepUnlessAborted(QUICK_CHECK_INTERVAL, stop)
      if (stop.aborted || connected() || !this.state.running) break
      const ownSocket = mayUseOwnSocket && entry.quickRounds >= OWN_SOCKET_AFTER
      for (const [transport, at] of byTransport) {
        if (transport === 'quic' && ownSocket) check(transport, at, true)
        check(transport, at)
      }
      entry.quickRounds++
    }
    await Promise.all(checks)
  }
}

function remember(addresses: Set<string>, address: string): void {
  addresses.delete(address)
  addresses.add(address)
  if (addresses.size > MAX_ADDRESSES) {
    const oldest = addresses.values().next().value
    if (oldest !== undefined) addresses.delete(oldest)
  }
}

/** Count a failed attempt; the wait before the next: doubling from {@link FIRST_DELAY} up to {@link MAX_DELAY}, jittered. */
function nextDelay(entry: Kept): number {
  entry.failures++
  return jitter(Math.min(MAX_DELAY, FIRST_DELAY * 2 ** (entry.failures - 1)))
}

/** ±20 %, so peers that lost a common relay do not redial in lockstep. */
function jitter(ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4))
}
