/**
 * Dead-path detection. A connection on which we wait for the peer (a send
 * not yet acknowledged, a request not yet answered) and from which nothing
 * arrives is probed with pings; one that stays silent for `timeout` ms is
 * declared dead (`path lost`), so its calls fail in seconds instead of at the
 * idle timeout, and the node can reconnect.
 *
 * Only waiting connections are watched: an idle link is left to the
 * transport's keep-alive and idle timeout, so silence there is never a false
 * positive. Anything heard from the peer counts (a transport reports when
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

/** Least silence before a probe (ms), so a path with a fast RTT is not pinged for every short pause. */
const MIN_PROBE_AFTER = 250

/**
 * Watches every waiting connection of a node with one timer, which runs only
 * while some connection waits.
 */
export class PathWatch<C extends WatchedPath = WatchedPath> {
  private readonly watched = new Set<C>()
  private readonly probing = new WeakSet<C>()
  private timer: NodeJS.Timeout | undefined
  private readonly period: number

  /**
   * @param timeout Silence (ms) while waiting after which a path is dead; 0 disables the watch.
   * @param onDead Called once for a dead connection (it is no longer watched).
   */
  constructor(
    readonly timeout: number,
    private readonly onDead: (connection: C, silentMs: number) => void,
  ) {
    this.period = Math.min(250, Math.max(20, timeout / 10))
  }

  /** `connection` started waiting for its peer. Cheap when it is watched already. */
  watch(connection: C): void {
    if (this.timeout <= 0 || this.watched.has(connection)) return
    this.watched.add(connection)
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.period)
      this.timer.unref()
    }
  }

  /** Stop watching (the connection closed). */
  forget(connection: C): void {
    this.watched.delete(connection)
  }

  /** Connections watched now (for tests and stats). */
  get size(): number {
    return this.watched.size
  }

  private sweep(): void {
    if (this.watched.size === 0) {
      clearInterval(this.timer)
      this.timer = undefined
      return
    }
    const now = performance.now()
    for (const connection of this.watched) {
      if (connection.waiting === 0) {
        this.watched.delete(connection)
        continue
      }
      const silent = now - Math.max(connection.lastHeardAt(), connection.waitingSince)
      if (silent >= this.timeout) {
        this.watched.delete(connection)
        this.onDead(connection, silent)
      } else if (silent >= this.probeAfter(connection) && !this.probing.has(connection)) {
        this.probing.add(connection)
        const done = (): void => {
          this.probing.delete(connection)
        }
        connection.probe(this.timeout).then(done, done)
      }
    }
  }

  /** Silence before probing: a few RTTs, at least {@link MIN_PROBE_AFTER}, at most a quarter of the timeout. */
  private probeAfter(connection: C): number {
    const rtt = connection.stats.rtt ?? 0
    return Math.min(this.timeout / 4, Math.max(MIN_PROBE_AFTER, 4 * rtt))
  }
}
