/**
 * The muxer's liveness: pings, keep-alives, the smoothed RTT they measure,
 * and the one timer per connection that sends keep-alives and notices an idle
 * peer or a write that stalled.
 *
 * @packageDocumentation
 */
import { LimitExceededError, type Logger, type TransportLimits } from '@crust/core'
import { DEFAULT_GROW_INTERVAL } from './flow-control.js'
import { Flag, FrameType } from './frame.js'
import type { FrameWriter } from './frame-writer.js'

/** What liveness needs from its muxer. */
export interface LivenessOptions {
  readonly writer: FrameWriter
  /** `idleTimeout` and `keepAliveInterval` (ms, 0 disables) are used. */
  readonly limits: TransportLimits
  readonly logger: Logger | undefined
  /** Whether the connection is still open (the timer does nothing otherwise). */
  readonly isOpen: () => boolean
  /** Nothing arrived for a whole idle timeout: the muxer closes with IDLE_TIMEOUT. */
  readonly onIdle: () => void
  /** The peer took none of our bytes for a whole idle timeout: the muxer cuts it off. */
  readonly onOverrun: (error: LimitExceededError) => void
}

interface PendingPing {
  readonly start: number
  readonly resolve: (rtt: number) => void
  readonly reject: (error: Error) => void
}

/**
 * Pings, keep-alive, RTT and the idle/keep-alive timer of one connection.
 * The muxer stamps {@link lastReceived} on every read.
 * @internal
 */
export class Liveness {
  /** When bytes last arrived (`performance.now()`); the muxer updates it on every read. */
  lastReceived: number
  /** Smoothed round-trip time in ms; 0 until a ping or keep-alive completes. */
  srtt = 0
  private readonly options: LivenessOptions
  private readonly writer: FrameWriter
  /** Pings awaiting their ACK; made on the first ping (most connections never ping: only keep-alives). */
  private pings: Map<number, PendingPing> | undefined
  private pingCounter = 0
  private keepAliveId = -1
  private keepAliveStart = 0
  private lastKeepAlive: number
  private timer: NodeJS.Timeout | undefined

  constructor(options: LivenessOptions) {
    this.options = options
    this.writer = options.writer
    this.lastReceived = this.lastKeepAlive = performance.now()
  }

  /** Grow stream windows drained faster than this: two RTTs when known (a window drained in that time is too small for the path). */
  get growInterval(): number {
    return this.srtt > 0 ? Math.max(2 * this.srtt, 1) : DEFAULT_GROW_INTERVAL
  }

  /** Measure the RTT at once (free: it leaves in the same write as MAX_STREAMS; window growth needs it) and start the timer. */
  start(): void {
    this.sendKeepAlive(this.lastKeepAlive)
    this.armTimer()
  }

  /** Round-trip time in ms, measured with a PING frame; the caller checked that the connection is open. */
  ping(): Promise<number> {
    const id = this.nextPingId()
    return new Promise<number>((resolve, reject) => {
      this.pings ??= new Map()
      this.pings.set(id, { start: performance.now(), resolve, reject })
      this.writer.queueControl(FrameType.PING, Flag.SYN, 0, id)
    })
  }

  /** A PING ACK carrying `id` arrived. */
  onPong(id: number): void {
    const now = performance.now()
    let rtt: number
    if (id === this.keepAliveId) {
      this.keepAliveId = -1
      rtt = now - this.keepAliveStart
    } else {
      const ping = this.pings?.get(id)
      if (ping === undefined) return
      this.pings?.delete(id)
      rtt = now - ping.start
      ping.resolve(rtt)
    }
    this.srtt = this.srtt === 0 ? rtt : this.srtt * 0.875 + rtt * 0.125
  }

  /** The connection closed: stop the timer and fail pending pings with `error`. */
  stop(error: Error): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (this.pings === undefined) return
    for (const ping of this.pings.values()) ping.reject(error)
    this.pings.clear()
  }

  private nextPingId(): number {
    this.pingCounter = (this.pingCounter + 1) >>> 0
    return this.pingCounter
  }

  /** One timer per connection: it wakes at the next keep-alive or idle deadline. */
  private armTimer(): void {
    const { idleTimeout, keepAliveInterval } = this.options.limits
    if (!this.options.isOpen() || (idleTimeout <= 0 && keepAliveInterval <= 0)) return
    let at = Number.POSITIVE_INFINITY
    if (keepAliveInterval > 0) at = this.lastKeepAlive + keepAliveInterval
    if (idleTimeout > 0) at = Math.min(at, this.lastReceived + idleTimeout, this.writer.writable ? at : this.writer.blockedSince + idleTimeout)
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(at - performance.now())))
    this.timer.unref()
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    if (!this.options.isOpen()) return
    const { idleTimeout, keepAliveInterval } = this.options.limits
    const now = performance.now()
    if (idleTimeout > 0 && now - this.lastReceived >= idleTimeout) {
      this.options.logger?.debug(`idle for ${Math.round(now - this.lastReceived)} ms, closing`)
      this.options.onIdle()
      return
    }
    if (idleTimeout > 0 && !this.writer.writable && this.writer.stalled(now, idleTimeout)) {
      // The peer has not taken a byte from us for a whole idle timeout, though it may still be sending.
      this.options.onOverrun(
        new LimitExceededError(
          `write stalled: the peer took none of our bytes for ${Math.round(now - this.writer.blockedSince)} ms`,
          'connection.idleTimeout',
        ),
      )
      return
    }
    if (keepAliveInterval > 0 && now - this.lastKeepAlive >= keepAliveInterval) this.sendKeepAlive(now)
    this.armTimer()
  }

  private sendKeepAlive(now: number): void {
    this.lastKeepAlive = now
    this.keepAliveId = this.nextPingId()
    this.keepAliveStart = now
    this.writer.queueControl(FrameType.PING, Flag.SYN, 0, this.keepAliveId)
  }
}
