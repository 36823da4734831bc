import { AbortError, ConnectionClosedError } from '../../errors.js'
import {
  CloseCode,
  type CloseInfo,
  type Direction,
  type RemotePeer,
  type TransportConnection,
  type TransportLimits,
  type TransportStream,
} from '../../transport/types.js'
import { MemoryStream, type StreamOwner } from './stream.js'

let nextId = 0

/** What one end of a connection is: its addresses, peer and limits. */
export interface MemoryEndpoint {
  readonly direction: Direction
  readonly localAddress: string
  readonly remoteAddress: string
  readonly remotePeer: RemotePeer
  readonly limits: TransportLimits
}

/**
 * One end of an in-memory connection. Streams are {@link MemoryStream}s;
 * the remote's `maxInboundStreams` bounds how many this end has open towards
 * it (`openStream` waits for one to finish); `close()` tells the other end
 * the code and reason at once; the idle timeout and keep-alives run on the
 * (fakeable) global timers.
 */
export class MemoryConnection implements TransportConnection, StreamOwner {
  readonly id = `memory-${++nextId}`
  readonly transport = 'memory'
  readonly direction: Direction
  readonly localAddress: string
  readonly remoteAddress: string
  readonly remotePeer: RemotePeer
  readonly closed: Promise<CloseInfo>
  private remote!: MemoryConnection
  private readonly limits: TransportLimits
  private readonly streams = new Set<MemoryStream>()
  /** Streams the remote opened that are not done yet (what its credit counts). */
  private inboundOpen = 0
  private creditWaiters: Array<() => void> = []
  private handler: ((stream: TransportStream) => void) | undefined
  private readonly early: TransportStream[] = []
  private nextStreamId: number
  private closeInfo: CloseInfo | undefined
  private resolveClosed!: (info: CloseInfo) => void
  private lastReceived = Date.now()
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  private keepAliveTimer: ReturnType<typeof setInterval> | undefined

  private constructor(endpoint: MemoryEndpoint) {
    this.direction = endpoint.direction
    this.localAddress = endpoint.localAddress
    this.remoteAddress = endpoint.remoteAddress
    this.remotePeer = endpoint.remotePeer
    this.limits = endpoint.limits
    // Dialer odd, listener even: ids never collide within the connection.
    this.nextStreamId = endpoint.direction === 'outbound' ? 1 : 2
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve
    })
  }

  /** Both ends of a new connection: the dialer's and the listener's. */
  static pair(dialer: MemoryEndpoint, listener: MemoryEndpoint): [MemoryConnection, MemoryConnection] {
    const outbound = new MemoryConnection(dialer)
    const inbound = new MemoryConnection(listener)
    outbound.remote = inbound
    inbound.remote = outbound
    outbound.startTimers()
    inbound.startTimers()
    return [outbound, inbound]
  }

  async openStream(options: { bidirectional: boolean; signal?: AbortSignal }): Promise<TransportStream> {
    const { signal } = options
    for (;;) {
      if (signal?.aborted) throw new AbortError()
      if (this.closeInfo) throw new ConnectionClosedError(`connection ${this.id} is closed`, this.closeInfo.code)
      if (this.remote.inboundOpen < this.remote.limits.maxInboundStreams) break
      await this.waitForCredit(signal)
    }
    const id = this.nextStreamId
    this.nextStreamId += 2
    const [local, remote] = MemoryStream.pair(id, options.bidirectional, this, this.remote)
    this.streams.add(local)
    this.remote.accept(remote)
    return local
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler
    for (const stream of this.early.splice(0)) handler(stream)
  }

  async close(options: { code?: number; reason?: string } = {}): Promise<void> {
    this.end({ code: options.code ?? CloseCode.NORMAL, reason: options.reason ?? '' }, false)
    await this.closed
  }

  /**
   * End both sides at once without a reason from either application, as a
   * lost link does: each end closes with `INTERNAL`, seen as remote, with
   * an error. Used by {@link MemoryNetwork} fault injection.
   */
  drop(reason = 'connection lost'): void {
    const error = new ConnectionClosedError(reason, CloseCode.INTERNAL)
    const info = { code: CloseCode.INTERNAL, reason, remote: true, error }
    this.finish(info)
    this.remote.finish(info)
  }

  /** @internal The remote did something: resets the idle clock. */
  touched(): void {
    this.lastReceived = Date.now()
  }

  /** @internal A stream of this end is done. */
  streamDone(stream: MemoryStream): void {
    if (!this.streams.delete(stream)) return
    if (stream.direction === 'inbound') {
      this.inboundOpen--
      this.remote.grantCredit()
    }
  }

  private accept(stream: MemoryStream): void {
    this.streams.add(stream)
    this.inboundOpen++
    this.touched()
    if (this.handler) this.handler(stream)
    else this.early.push(stream)
  }

  private waitForCredit(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', wake)
        resolve()
      }
      signal?.addEventListener('abort', wake, { once: true })
      this.creditWaiters.push(wake)
    })
  }

  private grantCredit(): void {
    for (const wake of this.creditWaiters.splice(0)) wake()
  }

  /** Close locally with `info`, and tell the remote end the same code and reason. */
  private end(info: Omit<CloseInfo, 'remote'>, remote: boolean): void {
    if (this.closeInfo) return
    this.finish({ ...info, remote })
    this.remote.finish({ code: info.code, reason: info.reason, remote: !remote })
  }

  private finish(info: CloseInfo): void {
    if (this.closeInfo) return
    this.closeInfo = info
    clearTimeout(this.idleTimer)
    clearInterval(this.keepAliveTimer)
    const error = new ConnectionClosedError(`connection closed (code ${info.code}): ${info.reason}`, info.code)
    for (const stream of [...this.streams]) stream.fail(error)
    this.grantCredit()
    this.resolveClosed(info)
  }

  private startTimers(): void {
    const { idleTimeout, keepAliveInterval } = this.limits
    if (keepAliveInterval > 0) {
      this.keepAliveTimer = setInterval(() => this.remote.touched(), keepAliveInterval)
      this.keepAliveTimer.unref?.()
    }
    if (idleTimeout > 0) this.armIdle(idleTimeout)
  }

  private armIdle(delay: number): void {
    this.idleTimer = setTimeout(() => {
      const quiet = Date.now() - this.lastReceived
      const { idleTimeout } = this.limits
      if (quiet >= idleTimeout) this.end({ code: CloseCode.IDLE_TIMEOUT, reason: `nothing received for ${quiet} ms` }, false)
      else this.armIdle(idleTimeout - quiet)
    }, delay)
    this.idleTimer.unref?.()
  }
}
