/**
 * Dead-path detection. A connection on which we wait for the peer (a send
 * not yet acknowledged, a request not yet answered) and from which nothing
 * arrives is probed with pings; one that stays silent for `timeout` ms is
 * declared dead (`path lost`), so its calls fail in seconds instead of at the
 * idle timeout, and the node can reconnect.
 *
 * A probe unanswered for a few RTTs (at least a second) makes the path
 * *suspect*: the node checks its other paths at once (see `KeepAlive`), and
 * when the network under it changed (another path died too), suspects are
 * closed then instead of at the timeout.
 *
 * Waiting connections are watched, and connections that carried steady
 * traffic *to* us and then went quiet, which get one probe: a receiver whose
 * NAT moved learns of it as fast as the sender, though it waits for nothing.
 * An idle link is left to the transport's keep-alive and idle timeout, so
 * silence there is never a false positive. Anything heard from the peer counts (a transport reports when
 * bytes last arrived, see `TransportConnection.lastReceivedAt`; the core adds
 * acknowledgements, answers, the peer's streams and pings), so a slow handler
 * or a long transfer to a live peer is never mistaken for a dead path: the
 * pings it answers prove it is there.
 *
 * @packageDocumentation
 */

/** What the watch needs from a connection. */
export interface WatchedPath {
  /** Operations waiting for the peer now. */
  readonly waiting: number
  /** When the current wait began (`performance.now()`): silence before it is not counted. */
  readonly waitingSince: number
  /** When anything last arrived from the peer (`performance.now()`). */
  lastHeardAt(): number
  /** `rtt`: the measured round-trip time in ms, when known. */
  readonly stats: { readonly rtt: number | undefined }
  /** Send one probe; resolves when it is answered (and the answer counted as heard), rejects otherwise. */
  probe(timeout: number): Promise<unknown>
}

/** Called for a dead (or suspect) path with how long it has been silent (ms). */
export type PathListener<C> = (connection: C, silentMs: number) => void

/** Least silence before a probe (ms), so a path with a fast RTT is not pinged for every short pause. */
const MIN_PROBE_AFTER = 250

/** Least time a probe has to be answered before its path is suspect (ms). */
const MIN_SUSPECT_AFTER = 1_000

/**
 * Watches every waiting connection of a node with one timer, which runs only
 * while some connection is watched.
 */
export class PathWatch<C extends WatchedPath = WatchedPath> {
  private readonly watched = new Set<C>()
  /** Connections that carried steady traffic to us: probed once when they go quiet. */
  private readonly streaming = new Set<C>()
  private readonly probing = new WeakSet<C>()
  private readonly suspected = new WeakSet<C>()
  private timer: NodeJS.Timeout | undefined
  private readonly period: number

  /**
   * @param timeout Silence (ms) while waiting after which a path is dead; 0 disables the watch.
   * @param onDead Called once for a dead connection (it is no longer watched).
   * @param onSuspect Called once per silent spell for a connection whose probe went unanswered for a few RTTs.
   */
  constructor(
    readonly timeout: number,
    private readonly onDead: PathListener<C>,
    private readonly onSuspect: PathListener<C> = () => {},
  ) {
    this.period = Math.min(250, Math.max(20, timeout / 10))
  }

  /** `connection` started waiting for its peer. Cheap when it is watched already. */
  watch(connection: C): void {
    if (this.timeout <= 0 || this.watched.has(connection)) return
    this.watched.add(connection)
    this.arm()
  }

  /**
   * `connection` carries steady traffic to us: when it goes quiet, probe it
   * once (the probe waits for the peer, so the path is then watched).
   */
  expectMore(connection: C): void {
    if (this.timeout <= 0 || this.streaming.has(connection)) return
    this.streaming.add(connection)
    this.arm()
  }

  /** Stop watching (the connection closed). */
  forget(connection: C): void {
    this.watched.delete(connection)
    this.streaming.delete(connection)
  }

  /** Connections watched now (for tests and stats). */
  get size(): number {
    return this.watched.size
  }

  private arm(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => this.sweep(), this.period)
    this.timer.unref()
  }

  private sweep(): void {
    if (this.watched.size === 0 && this.streaming.size === 0) {
      clearInterval(this.timer)
      this.timer = undefined
      return
    }
    const now = performance.now()
    for (const connection of this.streaming) {
      if (now - connection.lastHeardAt() < this.probeAfter(connection)) continue
      this.streaming.delete(connection)
      if (!this.watched.has(connection)) this.probeOnce(connection)
    }
    for (const connection of this.watched) {
      if (connection.waiting === 0) {
        this.watched.delete(connection)
        this.suspected.delete(connection)
        continue
      }
      const silent = now - Math.max(connection.lastHeardAt(), connection.waitingSince)
      const probeAfter = this.probeAfter(connection)
      if (silent >= this.timeout) {
        this.watched.delete(connection)
        this.onDead(connection, silent)
      } else if (silent >= probeAfter + this.suspectAfter(connection)) {
        // The probe sent at `probeAfter` has gone unanswered for a few RTTs.
        if (!this.suspected.has(connection)) {
          this.suspected.add(connection)
          this.onSuspect(connection, silent)
        }
      } else {
        if (silent < probeAfter) this.suspected.delete(connection)
        if (silent >= probeAfter) this.probeOnce(connection)
      }
    }
  }

  private probeOnce(connection: C): void {
    if (this.probing.has(connection)) return
    this.probing.add(connection)
    const done = (): void => {
      this.probing.delete(connection)
    }
    // The probe outlives the timeout by two sweeps: a probe that gave up first would end the wait, and with it
    // the watch, so a connection whose only wait was the probe (steady traffic that stopped) would never be
    // found dead however long it stayed silent.
    connection.probe(this.timeout + 2 * this.period).then(done, done)
  }

  /** Silence before probing: a few RTTs, at least {@link MIN_PROBE_AFTER}, at most a quarter of the timeout. */
  private probeAfter(connection: C): number {
    const rtt = connection.stats.rtt ?? 0
    return Math.min(this.timeout / 4, Math.max(MIN_PROBE_AFTER, 4 * rtt))
  }

  /** How long a probe may go unanswered before the path is suspect: a few RTTs, at least a second, at most half the timeout. */
  private suspectAfter(connection: C): number {
    const rtt = connection.stats.rtt ?? 0
    return Math.min(this.timeout / 2, Math.max(MIN_SUSPECT_AFTER, 8 * rtt))
  }
}
