/**
 * Keep-alives the transports' own cannot know are needed. A transport pings
 * every `connection.keepAliveInterval`; that is too slow when
 *
 * - the peer closes idle connections sooner (its `idleTimeout`, told in the
 *   handshake, is below twice our interval): then the core pings it within a
 *   third of that;
 * - a NAT on a punched path forgets its mapping sooner: a punched connection
 *   that went dead after a quiet spell (found by dead-path detection) teaches
 *   the node that mappings may expire after that much silence, and every
 *   punched connection is then pinged within a third of the shortest such
 *   spell seen, so the next one stays open.
 *
 * - a kept peer's connection (`node.keep`, or a service's infrastructure
 *   peer) is pinged by the core when quiet for a keep-alive interval: the
 *   ping waits for the peer, so dead-path detection finds a path that died
 *   under it within `connection.pathTimeout`, and the keeper reconnects;
 * - when one path is suspect (a probe unanswered) or found dead, every other
 *   connection is pinged at once: a changed network (a NAT that rebooted or
 *   moved its mappings) kills them all together, and once one of them is
 *   found dead, the suspects are closed too (see `suspect`).
 *
 * One node-wide timer, running only while some connection needs it.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import type { Connection } from '../connection/connection.js'
import { Tokens } from '../di/tokens.js'
import { isCrustError } from '../errors.js'
import type { Logger } from '../logger.js'
import { CloseCode } from '../transport/types.js'
import type { ConnectionPool } from './pool.js'

/** Shortest keep-alive the core ever uses (ms), whatever it learns. */
export const MIN_KEEP_ALIVE = 1_000
/** Least time a suspect connection has to answer a probe (ms). */
const SUSPECT_PROBE_MIN = 1_000
/** Quiet spells shorter than this before a dead path teach nothing (ms): the path may simply have broken. */
const MIN_LEARNED_SPELL = 2_000

/** How a connection ends when the path under it broke (not an orderly close). */
const BROKEN: ReadonlySet<number> = new Set([CloseCode.INTERNAL, CloseCode.IDLE_TIMEOUT, CloseCode.PATH_LOST])

/** Close `connection` as `PATH_LOST` with `reason`, and say so in the log. */
export function closePathLost(connection: Connection, reason: string, logger: Logger): void {
  logger.info(`connection to ${connection.peerId} (${connection.transport}): ${reason}`)
  void connection.transportConnection.close({ code: CloseCode.PATH_LOST, reason })
}

/** Pings connections that would otherwise be closed for silence. */
@injectable()
export class KeepAlive {
  /** The shortest quiet spell after which a punched path was found dead (ms). */
  private natSilence: number | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly pinging = new WeakSet<Connection>()

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Pool) private readonly pool: ConnectionPool,
  ) {}

  /** What the node learnt of NAT mapping lifetimes: the keep-alive of punched connections (ms), if shortened. */
  get punchedInterval(): number | undefined {
    return this.natSilence === undefined ? undefined : Math.max(MIN_KEEP_ALIVE, Math.floor(this.natSilence / 3))
  }

  /** Peers the node keeps connected: their connections are probed when quiet, so a dead path under them is found. */
  private readonly kept = new Set<string>()

  /** Probe `peerId`'s quiet connections every keep-alive interval (a kept peer's path must not die unnoticed). */
  watchPeer(peerId: string): void {
    this.kept.add(peerId)
    if (this.config.connection.keepAliveInterval > 0) this.arm()
  }

  unwatchPeer(peerId: string): void {
    this.kept.delete(peerId)
  }

  /**
   * `connection`'s probe went unanswered for a few RTTs (dead-path
   * detection's suspicion). The network under the node may have changed (a
   * NAT that rebooted or moved its mapping, an address that moved): check the
   * other paths now. If one of them is dead too, the network did change, and
   * the suspects are closed at once instead of at `connection.pathTimeout`.
   */
  suspect(connection: Connection): void {
    this.suspects.set(connection, connection.lastHeardAt())
    for (const listener of this.suspectListeners) listener(connection)
    if (this.check?.confirmed && performance.now() < this.check.until) {
      this.closeSuspects()
      return
    }
    this.checkNetwork(connection)
  }

  /**
   * A path was found dead: the network may have changed, and the other
   * connections may be dead too without anyone waiting on them to notice.
   * Suspects are closed now; every other connection is probed.
   */
  pathDied(connection: Connection): void {
    this.suspects.delete(connection)
    this.checkNetwork(connection)
    this.confirmChange('another path died')
  }

  /**
   * Call `listener` whenever the node suspects its network changed (a path
   * went silent or died). Returns the unsubscribe.
   */
  onNetworkChange(listener: (peerId: string) => void): () => void {
    this.changeListeners.add(listener)
    return () => this.changeListeners.delete(listener)
  }

  /** Call `listener` with every connection found suspect; returns the unsubscribe. */
  onSuspect(listener: (connection: Connection) => void): () => void {
    this.suspectListeners.add(listener)
    return () => this.suspectListeners.delete(listener)
  }

  private readonly suspectListeners = new Set<(connection: Connection) => void>()
  private readonly changeListeners = new Set<(peerId: string) => void>()
  /** Connections whose probe went unanswered, with when they were last heard from at the time. */
  private readonly suspects = new Map<Connection, number>()
  /** The current check of the node's paths: until when it runs, and whether a path was found dead in it. */
  private check: { readonly until: number; confirmed: string | false } | undefined

  /**
   * The node's public address moved (a service saw its reflexive address
   * change): the network did change. Paths through the old mapping are dead
   * unless they follow (a QUIC connection to a public node does): close the
   * suspects now and probe every connection, so the dead ones are found
   * within a second or so.
   */
  addressMoved(): void {
    this.checkNetwork(undefined)
    this.confirmChange('the node\'s public address moved')
  }

  /** Probe every connection but `trigger`, at most once per `connection.pathTimeout`, and tell the listeners. */
  private checkNetwork(trigger: Connection | undefined): void {
    const now = performance.now()
    const window = this.config.connection.pathTimeout
    if (window <= 0 || (this.check !== undefined && now < this.check.until)) return
    this.check = { until: now + window, confirmed: false }
    // A move a service reported needs no new answer from the services.
    if (trigger !== undefined) for (const listener of this.changeListeners) listener(trigger.peerId)
    for (const connection of this.pool.all()) {
      if (connection === trigger) continue
      // A probe gets a few RTTs (at least a second), not the whole pathTimeout, so the links a changed
      // network killed together are found together, and reconnection starts sooner.
      const timeout = Math.min(window, Math.max(SUSPECT_PROBE_MIN, 4 * (connection.stats.rtt ?? 0)))
      this.probe(
        connection,
        timeout,
        () => {
          closePathLost(connection, `path lost: no answer to a probe within ${timeout} ms after another path went silent`, this.logger)
          this.confirmChange('another path died meanwhile')
        },
        () => this.confirmChange('another path died meanwhile'),
      )
    }
  }

  /** A path died during a check, or the public address moved (`cause`): the network changed; close the suspects still silent. */
  private confirmChange(cause: string): void {
    if (this.check === undefined || performance.now() >= this.check.until) return
    this.check.confirmed = cause
    this.closeSuspects()
  }

  private closeSuspects(): void {
    const cause = this.check?.confirmed || 'the network changed'
    for (const [connection, heardAt] of this.suspects) {
      this.suspects.delete(connection)
      // Heard from since it was suspected: it is alive.
      if (connection.lastHeardAt() > heardAt) continue
      const silent = Math.round(performance.now() - heardAt)
      closePathLost(connection, `path lost: nothing heard from the peer for ${silent} ms, and ${cause} (the network changed)`, this.logger)
    }
  }

  /** Stop tracking `connection` (it closed). */
  forget(connection: Connection): void {
    this.suspects.delete(connection)
  }

  /** The keep-alive the core adds for `connection` (ms), or undefined when the transport's own is enough. */
  intervalFor(connection: Connection): number | undefined {
    const own = this.config.connection.keepAliveInterval
    let interval: number | undefined
    // A kept peer's connection: probed by the core at our own interval, so that dead-path detection covers it when quiet.
    if (own > 0 && this.kept.has(connection.peerId)) interval = own
    const remoteIdle = connection.remoteIdleTimeout
    if (remoteIdle !== undefined && remoteIdle > 0 && (own <= 0 || remoteIdle < 2 * own)) interval = Math.min(interval ?? remoteIdle, Math.floor(remoteIdle / 3))
    const punched = this.punchedInterval
    if (punched !== undefined && connection.method === 'punched' && (own <= 0 || punched < own)) interval = Math.min(interval ?? punched, punched)
    return interval === undefined ? undefined : Math.max(MIN_KEEP_ALIVE, interval)
  }

  /** A new connection joined the pool: watch it if it needs more than the transport's keep-alive. */
  track(connection: Connection): void {
    if (this.intervalFor(connection) !== undefined) this.arm()
  }

  /**
   * A connection was found dead (dead-path detection) after `quiet` ms in
   * which nothing was heard before the wait began. On a punched path that
   * had been alive, this is what a NAT mapping that expired looks like.
   */
  pathLost(connection: Connection, quiet: number): void {
    if (connection.method !== 'punched' || quiet < MIN_LEARNED_SPELL) return
    if (this.natSilence !== undefined && quiet >= this.natSilence) return
    this.natSilence = quiet
    this.logger.info(`a punched path died after ${Math.round(quiet)} ms of silence: punched connections are now kept alive every ${this.punchedInterval} ms`)
    this.arm()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private arm(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => this.tick(), MIN_KEEP_ALIVE / 2)
    this.timer.unref()
  }

  private tick(): void {
    const now = performance.now()
    let needed = false
    for (const connection of this.pool.all()) {
      const interval = this.intervalFor(connection)
      if (interval === undefined) continue
      needed = true
      if (now - connection.lastHeardAt() >= interval) this.probe(connection, interval)
    }
    if (!needed && this.kept.size === 0) this.stop()
  }

  /**
   * Ping `connection` unless a ping from here is already out; `onSilent` when
   * it timed out and nothing else was heard meanwhile, `onBroken` when the
   * connection broke under it (reset, found dead).
   */
  private probe(connection: Connection, timeout: number, onSilent?: () => void, onBroken?: () => void): void {
    if (this.pinging.has(connection)) return
    this.pinging.add(connection)
    const started = performance.now()
    connection.ping({ timeout }).then(
      () => this.pinging.delete(connection),
      (error: unknown) => {
        this.pinging.delete(connection)
        if (isCrustError(error, 'ERR_TIMEOUT')) {
          if (onSilent !== undefined && connection.lastHeardAt() <= started) onSilent()
        } else if (onBroken !== undefined) {
          void connection.closed.then((info) => {
            if (BROKEN.has(info.code)) onBroken()
          })
        }
      },
    )
  }
}
