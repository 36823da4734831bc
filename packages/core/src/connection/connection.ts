import { AbortError, MessageTooLargeError, ProtocolError, RemoteHandlerError, TimeoutError } from '../errors.js'
import type { CloseInfo, ConnectionMethod, Direction, TransportConnection, TransportStream } from '../transport/types.js'
import { CloseCode } from '../transport/types.js'
import { type CrustStream, type OpenStreamOptions, openAppStream } from './crust-stream.js'
import { MessageKind, NAMED } from './message-header.js'
import { type ReadMessage, failureAfterHandover, readMessage, writeMessage } from './message-io.js'
import { type ProtocolStream, startProtocolStream } from './protocol-stream.js'
import type { PathWatch } from './path-watch.js'
import { checkAppProtocolName, encodeNamePrefix, isAppProtocolName } from './protocol-name.js'
import { StreamResetCode } from './stream-codes.js'

/** Options for {@link Connection.send} and {@link Connection.request}. */
export interface SendOptions {
  /** Cancel the operation; it rejects with `AbortError`. */
  signal?: AbortSignal
  /** Deadline in ms for the whole operation; defaults to the node's `connection.requestTimeout`. */
  timeout?: number
  /**
   * The application protocol to address (e.g. `/chat/1`): the receiver hands
   * the message to that protocol's handler (`node.handle(protocol, ...)`),
   * and refuses it at once with `ProtocolNotSupportedError` when it has none.
   * Absent: the default handler (`node.handle(handler)`).
   */
  protocol?: string
}

/** Traffic counters of a connection: messages and their answers, and the payload bytes of those and of protocol streams. */
export interface ConnectionStats {
  /** Payload bytes sent: messages, answers, and what was written to application streams (`openStream`, `handleStream`). */
  bytesSent: number
  /** Payload bytes received, as {@link ConnectionStats.bytesSent}. */
  bytesReceived: number
  messagesSent: number
  messagesReceived: number
  /**
   * Round-trip time in ms, the latest measured: a {@link Connection.ping}
   * (the core's keep-alive and dead-path probes are pings too), or the
   * transport's own keep-alives (the mux's smoothed RTT over TCP, QUIC's path
   * RTT) when they measured since. Undefined until something measured it.
   */
  readonly rtt: number | undefined
}

/** The core's own ping protocol: each frame is echoed back. */
export const PING_PROTOCOL = '/crust/ping/1'
/** Streams from the peer within {@link STEADY_WINDOW} ms that make its traffic steady (see `noteInbound`). */
const STEADY_STREAMS = 4
const STEADY_WINDOW = 1_000

/** Limits a connection applies to the messages it carries. */
export interface ConnectionSettings {
  /** The node's dead-path detection, told whenever the connection waits for its peer. */
  readonly pathWatch?: PathWatch<Connection>
  readonly maxMessageSize: number
  readonly requestTimeout: number
  /** Hears each RTT a ping measured (ms), for the node's metrics. */
  readonly onRtt?: (ms: number) => void
}

/** Why a connection was made over a fallback transport: the transport that was preferred, and why it lost. */
export interface ConnectionFallback {
  readonly from: string
  readonly reason: 'refused' | 'timeout' | 'blocked' | 'failed'
}

/** What the core learnt about a connection's path (see the getters of {@link Connection}). */
export interface ConnectionPath {
  readonly observedAddress: string | undefined
  readonly fallback: ConnectionFallback | undefined
  readonly remoteRole: 'node' | 'client'
  readonly method: ConnectionMethod
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * A connection to one authenticated peer, as handed to users. One message per
 * stream: `send` uses a unidirectional stream, `request` a bidirectional one
 * whose answer comes from the receiver's handler.
 */
export class Connection {
  /** When this connection lost a simultaneous-open tie-break, the connection that replaced it. */
  private replacement: Connection | undefined
  /** Streams in use: our sends, requests and pings, and the remote's messages being served. */
  private busy = 0
  /** Wall-clock time the connection was established. */
  readonly openedAt = Date.now()
  /** What the core learnt about the path; users read it through the getters below. */
  private readonly path: Mutable<ConnectionPath> = { observedAddress: undefined, fallback: undefined, remoteRole: 'node', method: 'direct' }
  /** See {@link Connection.lastActiveAt}. */
  private lastActive = this.openedAt
  /** When the core last heard from the peer (an acknowledgement, an answer, a stream, a ping's echo), `performance.now()` time. */
  private heardAt = performance.now()
  /** @internal The peer's session from its handshake: another value on a later connection means it restarted. */
  remoteSession: string | undefined
  /** @internal Which dial of which node this connection was an attempt of, as both ends know it (the handshake's `race`), if tagged. */
  race: { readonly node: string; readonly dial: number; readonly attempt: number } | undefined
  /** @internal The peer's idle timeout from its handshake (ms; 0 = none), when it told it. */
  remoteIdleTimeout: number | undefined
  /** @internal Operations handed over and waiting for the peer (an acknowledgement or an answer). */
  waiting = 0
  /** @internal When {@link waiting} last rose from zero (`performance.now()`). */
  waitingSince = 0
  /**
   * The application protocols the peer announced (at most 32, sorted): in
   * its handshake, and again whenever its list changed while connected (see
   * the `peer:protocols` event). A protocol beyond the first 32 is not listed,
   * and opening it still works.
   */
  remoteProtocols: readonly string[] = []
  /** Traffic counters. */
  readonly stats: ConnectionStats
  /** The last ping's RTT (ms), and the transport's RTT when it was taken (to tell whether the transport measured since). */
  private pinged: { rtt: number; transportRtt: number | undefined } | undefined

  constructor(
    /** The transport-level connection underneath. */
    readonly transportConnection: TransportConnection,
    private readonly settings: ConnectionSettings,
  ) {
    this.stats = new Stats(this)
  }

  /** @internal See {@link ConnectionStats.rtt}: the last ping's, unless the transport measured a different RTT since. */
  latestRtt(): number | undefined {
    const transport = transportRtt(this.transportConnection)
    const pinged = this.pinged
    if (pinged !== undefined && (transport === undefined || transport === pinged.transportRtt)) return pinged.rtt
    return transport
  }

  /** Address the remote peer reported seeing us at (its echo), when it told us. */
  get observedAddress(): string | undefined {
    return this.path.observedAddress
  }
  /** Set when this connection was made over a fallback transport: which one was preferred and why it lost. */
  get fallback(): ConnectionFallback | undefined {
    return this.path.fallback
  }
  /** The role the remote claimed in its handshake (`client` while the node checks a claimed `node` role, when it demotes). */
  get remoteRole(): 'node' | 'client' {
    return this.path.remoteRole
  }
  /** How the path was made: `direct`, `upnp` (through the listener's port mapping), `punched`, `relayed`, or a plugin's own method (see {@link ConnectionMethod}). */
  get method(): ConnectionMethod {
    return this.path.method
  }
  /**
   * When the connection last carried useful traffic (a message either way, or
   * a service protocol stream; not pings or keep-alives), as `Date.now()`
   * time; `openedAt` until then. The pruner closes the longest idle first.
   */
  get lastActiveAt(): number {
    return this.lastActive
  }

  /**
   * @internal The core records what the handshake, the dial and the
   * reachability check learnt about the path. Read-only to users: a plugin
   * that changed them would mislead the pool and every other plugin.
   */
  setPath(update: Partial<ConnectionPath>): void {
    Object.assign(this.path, update)
  }

  /** The authenticated peer id of the remote side. */
  get peerId(): string {
    return this.transportConnection.remotePeer.peerId
  }
  get remoteAddress(): string {
    return this.transportConnection.remoteAddress
  }
  get localAddress(): string {
    return this.transportConnection.localAddress
  }
  /** Which transport carries this connection (`tcp`, `quic`, ...). */
  get transport(): string {
    return this.transportConnection.transport
  }
  get direction(): Direction {
    return this.transportConnection.direction
  }
  /** Settles once the connection has closed, with the reason. */
  get closed(): Promise<CloseInfo> {
    return this.transportConnection.closed
  }

  /**
   * Send one message on its own stream. Resolves once the receiving node's
   * core has the whole message (its acknowledgement arrived), not when the
   * bytes were handed to a socket; the remote handler runs after that.
   * Rejects with the receiver's typed refusal (`MessageTooLargeError`,
   * `LimitExceededError`, ...) when it refused the message, with
   * `DeliveryUnknownError` when the connection or stream failed after the
   * message was handed over and before the acknowledgement, and with
   * `TimeoutError` / `AbortError` at the deadline or on abort.
   */
  send(data: Uint8Array, options: SendOptions = {}): Promise<void> {
    const target = this.current()
    if (target !== this) return target.send(data, options)
    const refused = this.refuse(data, options)
    if (refused !== undefined) return Promise.reject(refused)
    const protocol = options.protocol
    return new Promise<void>((resolve, reject) => {
      const operation = new Operation<void>('send', resolve, reject, options, this.settings.requestTimeout)
      if (protocol === undefined) void this.runSend(operation, data, MessageKind.SEND, undefined)
      else void this.runSend(operation, data, MessageKind.NAMED_SEND, encodeNamePrefix(protocol), protocol)
    })
  }

  /**
   * Send a request on its own stream and resolve to the remote handler's
   * answer. Rejects as {@link Connection.send} does, and with
   * `RemoteHandlerError` when the remote handler threw.
   */
  request(data: Uint8Array, options: SendOptions = {}): Promise<Uint8Array> {
    const target = this.current()
    if (target !== this) return target.request(data, options)
    const refused = this.refuse(data, options)
    if (refused !== undefined) return Promise.reject(refused)
    const protocol = options.protocol
    return new Promise<Uint8Array>((resolve, reject) => {
      const operation = new Operation<Uint8Array>('request', resolve, reject, options, this.settings.requestTimeout)
      if (protocol === undefined) void this.runRequest(operation, data, MessageKind.REQUEST, undefined)
      else void this.runRequest(operation, data, MessageKind.NAMED_REQUEST, encodeNamePrefix(protocol), protocol)
    })
  }

  /**
   * @internal A peer-addressed message (`node.send`, `node.request`): the
   * same exchange as `send`/`request`, with `envelope` in front of the data
   * so the receiver delivers it once however often it is resent.
   */
  sequenced(kind: 'send', data: Uint8Array, envelope: Uint8Array, options: SendOptions): Promise<void>
  sequenced(kind: 'request', data: Uint8Array, envelope: Uint8Array, options: SendOptions): Promise<Uint8Array>
  sequenced(kind: 'send' | 'request', data: Uint8Array, envelope: Uint8Array, options: SendOptions): Promise<void | Uint8Array> {
    const target = this.current()
    if (target !== this) return kind === 'send' ? target.sequenced(kind, data, envelope, options) : target.sequenced(kind, data, envelope, options)
    const refused = this.refuse(data, options)
    if (refused !== undefined) return Promise.reject(refused)
    const protocol = options.protocol
    // A named message carries its protocol name in front of the envelope.
    const prefix = protocol === undefined ? envelope : encodeNamePrefix(protocol, envelope)
    const named = protocol === undefined ? 0 : NAMED
    if (kind === 'send') {
      return new Promise<void>((resolve, reject) => {
        const operation = new Operation<void>('send', resolve, reject, options, this.settings.requestTimeout)
        void this.runSend(operation, data, (MessageKind.SEQ_SEND | named) as MessageKind, prefix, protocol)
      })
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const operation = new Operation<Uint8Array>('request', resolve, reject, options, this.settings.requestTimeout)
      void this.runRequest(operation, data, (MessageKind.SEQ_REQUEST | named) as MessageKind, prefix, protocol)
    })
  }

  private async runSend(
    operation: Operation<void>,
    data: Uint8Array,
    kind: MessageKind,
    envelope: Uint8Array | undefined,
    protocol?: string,
  ): Promise<void> {
    let handedOver = false
    this.busy++
    try {
      const stream = await this.transportConnection.openStream({ bidirectional: true, messageBytes: data.byteLength + (envelope?.byteLength ?? 0) })
      if (!operation.attach(stream)) return
      handedOver = true
      this.beginWait()
      await writeMessage(stream, kind, data, envelope)
      const ack = await readMessage(stream, 0)
      if (ack.kind !== MessageKind.ACK) throw new ProtocolError(`unexpected message kind ${ack.kind} instead of an acknowledgement`)
      this.heard()
      this.countSent(data.byteLength)
    } catch (error) {
      operation.fail(handedOver ? failureAfterHandover(error, 'send', data.byteLength, this.settings.maxMessageSize, protocol) : error)
      return
    } finally {
      this.busy--
      if (handedOver) this.waiting--
    }
    operation.succeed(undefined)
  }

  private async runRequest(
    operation: Operation<Uint8Array>,
    data: Uint8Array,
    kind: MessageKind,
    envelope: Uint8Array | undefined,
    protocol?: string,
  ): Promise<void> {
    let answer: ReadMessage
    let handedOver = false
    this.busy++
    try {
      const stream = await this.transportConnection.openStream({ bidirectional: true, messageBytes: data.byteLength + (envelope?.byteLength ?? 0) })
      if (!operation.attach(stream)) return
      handedOver = true
      this.beginWait()
      await writeMessage(stream, kind, data, envelope)
      this.countSent(data.byteLength)
      answer = await readMessage(stream, this.settings.maxMessageSize)
      this.countReceived(answer.data.byteLength)
      if (answer.kind === MessageKind.ERROR_RESPONSE) {
        throw new RemoteHandlerError(Buffer.from(answer.data).toString('utf8'))
      }
      if (answer.kind !== MessageKind.RESPONSE) {
        throw new ProtocolError(`unexpected message kind ${answer.kind} in a response`)
      }
    } catch (error) {
      operation.fail(handedOver ? failureAfterHandover(error, 'request', data.byteLength, this.settings.maxMessageSize, protocol) : error)
      return
    } finally {
      this.busy--
      if (handedOver) this.waiting--
    }
    operation.succeed(answer.data)
  }

  /**
   * Open a stream for a service protocol (e.g. `/crust/relay/1`). The remote
   * node resets it with `StreamResetCode.REFUSED` when it runs no handler for
   * that protocol.
   */
  async openProtocolStream(protocol: string, options: { signal?: AbortSignal } = {}): Promise<ProtocolStream> {
    const target = this.current()
    const stream = await target.transportConnection.openStream({ bidirectional: true, signal: options.signal })
    if (protocol !== PING_PROTOCOL) target.markActive()
    return startProtocolStream(stream, protocol)
  }

  /**
   * Open a byte stream for the application protocol `protocol` (e.g.
   * `/files/1`), handled at the peer by `node.handleStream(protocol, ...)`.
   * Resolves once the peer accepted it (one round trip). Rejects at once with
   * `ProtocolNotSupportedError` when the peer does not handle `protocol`,
   * with `LimitExceededError` when the peer's stream limits for it are
   * reached, with `TimeoutError` / `AbortError` at the deadline or on abort,
   * and with `ConfigError` for a malformed name.
   */
  async openStream(protocol: string, options: OpenStreamOptions = {}): Promise<CrustStream> {
    checkAppProtocolName(protocol)
    if (options.signal?.aborted) throw new AbortError()
    const target = this.current()
    const stream = await target.transportConnection.openStream({ bidirectional: true, signal: options.signal })
    target.markActive()
    target.busy++
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      target.busy--
      target.markActive()
    }
    return openAppStream(stream, protocol, target, { ...options, timeout: options.timeout ?? this.settings.requestTimeout }, release)
  }

  /** Measure the round-trip time to the peer (ms); also kept in `stats.rtt`. */
  async ping(options: SendOptions = {}): Promise<number> {
    const timeout = options.timeout ?? this.settings.requestTimeout
    const controller = new AbortController()
    const onAbort = (): void => controller.abort()
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const timer = setTimeout(() => controller.abort(), timeout)
    let stream: ProtocolStream | undefined
    // A ping waits for the peer like a request: a silent path under it is found dead (see PathWatch).
    const target = this.current()
    target.beginWait()
    try {
      const started = performance.now()
      stream = await this.openProtocolStream(PING_PROTOCOL, { signal: controller.signal })
      const opened = stream
      controller.signal.addEventListener('abort', () => opened.reset(StreamResetCode.TIMEOUT), { once: true })
      await stream.writeFrame(Buffer.from('ping'), { end: true })
      const echo = await stream.readFrame(64)
      if (echo === undefined) throw new ProtocolError('the peer closed the ping stream without answering')
      const rtt = performance.now() - started
      this.heard()
      const current = this.current()
      current.pinged = { rtt, transportRtt: transportRtt(current.transportConnection) }
      this.settings.onRtt?.(rtt)
      return rtt
    } catch (error) {
      if (options.signal?.aborted) throw new AbortError()
      if (controller.signal.aborted) throw new TimeoutError(`ping did not finish within ${timeout} ms`)
      throw error
    } finally {
      target.waiting--
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Close the connection; the remote side sees an orderly close. */
  async close(reason = 'closed by application'): Promise<void> {
    await this.transportConnection.close({ code: CloseCode.NORMAL, reason })
  }

  /** @internal When anything last arrived from the peer: what the transport saw, or the core heard (`performance.now()`). */
  lastHeardAt(): number {
    const transport = this.transportConnection.lastReceivedAt
    return transport !== undefined && transport > this.heardAt ? transport : this.heardAt
  }

  /** @internal One liveness probe for the node's path watch: a ping. */
  probe(timeout: number): Promise<number> {
    return this.ping({ timeout })
  }

  /** @internal Note that the peer was heard from now. */
  heard(): void {
    this.heardAt = performance.now()
  }

  private beginWait(): void {
    if (this.waiting++ === 0) this.waitingSince = performance.now()
    this.settings.pathWatch?.watch(this)
  }

  /** @internal Count a message (or answer) sent. */
  countSent(bytes: number): void {
    this.stats.bytesSent += bytes
    this.stats.messagesSent++
    this.markActive()
  }

  /** @internal Count a message (or answer) received. */
  countReceived(bytes: number): void {
    this.stats.bytesReceived += bytes
    this.stats.messagesReceived++
    this.markActive()
    this.heard()
  }

  /**
   * Steady traffic from the peer (a few streams a second) is expected to go
   * on: the path watch probes the connection once when it goes quiet.
   */
  private noteInbound(): void {
    const now = this.heardAt
    if (now - this.inboundSince > STEADY_WINDOW) {
      this.inboundSince = now
      this.inboundCount = 0
    }
    if (++this.inboundCount === STEADY_STREAMS) this.settings.pathWatch?.expectMore(this)
  }

  private inboundSince = Number.NEGATIVE_INFINITY
  private inboundCount = 0

  /** @internal Note useful traffic now (see `lastActiveAt`). */
  markActive(): void {
    this.lastActive = Date.now()
  }

  /** Route later calls to the connection that won a simultaneous open. */
  replaceWith(winner: Connection): void {
    this.replacement = winner
  }

  /** @internal Count a stream the core serves on this connection, until `done` is called. */
  serving(): () => void {
    this.heard()
    this.noteInbound()
    this.busy++
    let done = false
    return () => {
      if (done) return
      done = true
      this.busy--
    }
  }

  /**
   * @internal Close a connection that lost a tie-break without breaking the
   * calls on it: new calls already go to the winner; those in flight (ours,
   * and the remote's, which may switch a one-way trip later) finish first,
   * up to `timeoutMs`.
   */
  async retire(code: number, reason: string, timeoutMs: number): Promise<void> {
    const started = performance.now()
    let closed = false
    void this.closed.then(() => {
      closed = true
    })
    const elapsed = (): number => performance.now() - started
    while (!closed && elapsed() < timeoutMs && (this.busy > 0 || elapsed() < RETIRE_GRACE_MS)) {
      await new Promise((resolve) => setTimeout(resolve, RETIRE_POLL_MS))
    }
    await this.transportConnection.close({ code, reason })
  }

  private current(): Connection {
    let target: Connection = this
    while (target.replacement !== undefined) target = target.replacement
    return target
  }

  /** Why an operation on `data` cannot start at all: too large, or already aborted. */
  private refuse(data: Uint8Array, options: SendOptions): Error | undefined {
    if (options.protocol !== undefined && !isAppProtocolName(options.protocol)) {
      try {
        checkAppProtocolName(options.protocol)
      } catch (error) {
        return error as Error
      }
    }
    const limit = this.settings.maxMessageSize
    if (data.byteLength > limit) {
      return new MessageTooLargeError(`message of ${data.byteLength} bytes exceeds the limit of ${limit}`, data.byteLength, limit)
    }
    if (options.signal?.aborted) return new AbortError()
    return undefined
  }
}

/** Least time a replaced connection keeps serving: the remote switches to the winner a one-way trip later. */
const RETIRE_GRACE_MS = 250
/** How often a retiring connection checks whether its streams are done. */
const RETIRE_POLL_MS = 20

/** Largest delay node:timers accepts; longer (or invalid) delays become 1 ms, as with `setTimeout`. */
const TIMEOUT_MAX = 2 ** 31 - 1

/**
 * One `send` or `request` under its deadline and abort signal. It settles
 * once: with the work's outcome, with `TimeoutError` when the deadline
 * passes, or with `AbortError` when the signal aborts; on either of the
 * latter the stream it opened is reset so neither side keeps state for it
 * (a stream that opens only afterwards is reset at once).
 *
 * Deadlines cost no timer each: operations with the same timeout sit in one
 * {@link DeadlineList} in deadline order, behind one timer.
 */
class Operation<T> {
  /** Set by the deadline list. */
  deadline = 0
  prev: Operation<unknown> | undefined
  next: Operation<unknown> | undefined
  list: DeadlineList | undefined
  private stream: TransportStream | undefined
  private settled = false
  /** Reset code for a stream that opens after the operation timed out or was aborted. */
  private lateReset = 0
  private readonly signal: AbortSignal | undefined
  private onAbort: (() => void) | undefined
  /** As given, for the error message. */
  private readonly timeoutMs: number

  constructor(
    private readonly name: string,
    private readonly resolve: (value: T) => void,
    private readonly reject: (error: unknown) => void,
    options: SendOptions,
    defaultTimeout: number,
  ) {
    const timeout = options.timeout ?? defaultTimeout
    this.timeoutMs = timeout
    deadlineList(timeout >= 1 && timeout <= TIMEOUT_MAX ? timeout : 1).add(this as Operation<unknown>)
    const signal = options.signal
    this.signal = signal
    if (signal !== undefined) {
      this.onAbort = () => this.abort()
      signal.addEventListener('abort', this.onAbort, { once: true })
    }
  }

  /** The stream the work opened; false (and the stream reset) when the operation already ended. */
  attach(stream: TransportStream): boolean {
    if (this.settled) {
      stream.reset(this.lateReset)
      return false
    }
    this.stream = stream
    return true
  }

  succeed(value: T): void {
    if (this.settled) return
    this.finish()
    this.resolve(value)
  }

  fail(error: unknown): void {
    if (this.settled) return
    this.finish()
    this.reject(error)
  }

  /** The deadline passed. */
  expire(): void {
    if (this.settled) return
    this.lateReset = StreamResetCode.TIMEOUT
    this.stream?.reset(StreamResetCode.TIMEOUT)
    // Once a stream was opened the message may have been handed over: say that its fate is unknown.
    const fate = this.stream === undefined ? '' : '; the peer may or may not have received the message'
    this.fail(new TimeoutError(`${this.name} did not finish within ${this.timeoutMs} ms${fate}`))
  }

  private abort(): void {
    if (this.settled) return
    this.lateReset = StreamResetCode.CANCELLED
    this.stream?.reset(StreamResetCode.CANCELLED)
    this.fail(new AbortError())
  }

  private finish(): void {
    this.settled = true
    this.list?.remove(this as Operation<unknown>)
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort)
    this.onAbort = undefined
  }
}

/** Deadline lists by timeout (ms); a list is dropped once empty. */
const deadlineLists = new Map<number, DeadlineList>()

function deadlineList(timeout: number): DeadlineList {
  let list = deadlineLists.get(timeout)
  if (list === undefined) {
    list = new DeadlineList(timeout)
    deadlineLists.set(timeout, list)
  }
  return list
}

/**
 * Pending operations that share one timeout, oldest first: since they were
 * all added with the same delay, that is deadline order. One timer, armed for
 * the oldest deadline, serves the whole list; it is cleared when the list
 * empties, so an idle process holds no timer.
 */
class DeadlineList {
  private head: Operation<unknown> | undefined
  private tail: Operation<unknown> | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly timeout: number) {}

  add(operation: Operation<unknown>): void {
    operation.deadline = performance.now() + this.timeout
    operation.list = this
    operation.prev = this.tail
    if (this.tail === undefined) this.head = operation
    else this.tail.next = operation
    this.tail = operation
    if (this.timer === undefined) this.timer = setTimeout(this.onTimer, this.timeout)
  }

  remove(operation: Operation<unknown>): void {
    if (operation.list !== this) return
    const { prev, next } = operation
    if (prev === undefined) this.head = next
    else prev.next = next
    if (next === undefined) this.tail = prev
    else next.prev = prev
    operation.prev = operation.next = operation.list = undefined
    if (this.head === undefined) this.drop()
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    const now = performance.now()
    let head = this.head
    while (head !== undefined && head.deadline <= now) {
      this.remove(head)
      head.expire()
      head = this.head
    }
    if (head !== undefined && this.timer === undefined) {
      this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(head.deadline - now)))
    }
  }

  /** Empty: release the timer and forget the list. */
  private drop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (deadlineLists.get(this.timeout) === this) deadlineLists.delete(this.timeout)
  }
}

/** The RTT the transport measured (ms), when it offers one and has measured. */
function transportRtt(connection: TransportConnection): number | undefined {
  const rtt = connection.rtt
  return rtt !== undefined && Number.isFinite(rtt) && rtt > 0 ? rtt : undefined
}

/** A connection's counters; `rtt` is read from the connection when asked (its owner is private: spreads and JSON show the counters only). */
class Stats implements ConnectionStats {
  bytesSent = 0
  bytesReceived = 0
  messagesSent = 0
  messagesReceived = 0
  readonly #owner: Connection

  constructor(owner: Connection) {
    this.#owner = owner
  }

  get rtt(): number | undefined {
    return this.#owner.latestRtt()
  }

  /** All five, `rtt` included (it is a getter, which JSON would leave out). */
  toJSON(): ConnectionStats {
    const { bytesSent, bytesReceived, messagesSent, messagesReceived, rtt } = this
    return { bytesSent, bytesReceived, messagesSent, messagesReceived, rtt }
  }
}
