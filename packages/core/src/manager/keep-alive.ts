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
 * One node-wide timer, running only while some connection needs it.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import type { Connection } from '../connection/connection.js'
import { Tokens } from '../di/tokens.js'
import type { Logger } from '../logger.js'
import type { ConnectionPool } from './pool.js'

/** Shortest keep-alive the core ever uses (ms), whatever it learns. */
export const MIN_KEEP_ALIVE = 1_000
/** Quiet spells shorter than this before a dead path teach nothing (ms): the path may simply have broken. */
const MIN_LEARNED_SPELL = 2_000

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

  /** The keep-alive the core adds for `connection` (ms), or undefined when the transport's own is enough. */
  intervalFor(connection: Connection): number | undefined {
    const own = this.config.connection.keepAliveInterval
    let interval: number | undefined
    const remoteIdle = connection.remoteIdleTimeout
    if (remoteIdle !== undefined && remoteIdle > 0 && (own <= 0 || remoteIdle < 2 * own)) interval = Math.floor(remoteIdle / 3)
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
      if (this.pinging.has(connection) || now - connection.lastHeardAt() < interval) continue
      this.pinging.add(connection)
      const done = (): void => {
        this.pinging.delete(connection)
      }
      connection.ping({ timeout: interval }).then(done, done)
    }
    if (!needed) this.stop()
  }
}
