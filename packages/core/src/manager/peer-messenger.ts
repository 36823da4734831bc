/**
 * Messages addressed to a peer, not to a connection (`node.send(peerId)`,
 * `node.request(peerId)`): each goes over the peer's current connection; when
 * there is none, or the one it was handed to dies before the peer
 * acknowledged (or answered) it, it waits for a connection to be made (by the
 * node's keeper or by itself) and is sent again. The receiver delivers each
 * one once (see `connection/sequenced.ts`). Only the deadline ends the wait.
 *
 * Exactly once while both nodes live. A receiver that restarted (another
 * session in its handshake) lost the record of what it delivered: a message
 * handed to its previous run is then not resent but rejected with
 * `DeliveryUnknownError`, so across a receiver restart it is at most once,
 * and never silently lost.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import type { Connection, SendOptions } from '../connection/connection.js'
import { SEQUENCE_WINDOW, encodeEnvelope } from '../connection/sequenced.js'
import { StreamResetCode } from '../connection/stream-codes.js'
import { Tokens } from '../di/tokens.js'
import { AbortError, DeliveryUnknownError, NotStartedError, StreamResetError, TimeoutError, isCrustError } from '../errors.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import { sleepUnlessAborted } from '../events/sleep.js'
import { type Dialer, isPermanent } from './dialer.js'
import type { PeerKeeper } from './peer-keeper.js'
import type { PeerPresence } from './peer-presence.js'
import type { ConnectionPool } from './pool.js'
import type { RunState } from './run-state.js'

/** Wait before dialling a peer again when a dial for a message failed (ms); doubles up to {@link MAX_REDIAL}. */
const FIRST_REDIAL = 250
const MAX_REDIAL = 1_000
/** Longest a dial for a message may take before a fresh one is started (ms). */
const ATTEMPT_MS = 3_000

/** The sender's numbering of its messages to one peer. */
interface Outbox {
  /** Random id of this numbering; a new one starts whenever nothing is outstanding. */
  readonly stream: string
  next: number
  /** Seqs not yet settled, in ascending order (insertion order). */
  readonly outstanding: Set<number>
  /** Senders waiting for the window to move (the oldest outstanding message to settle). */
  readonly waiting: Array<() => void>
}

/** Sends and requests addressed to peers. */
@injectable()
export class PeerMessenger {
  private readonly outboxes = new Map<string, Outbox>()

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Pool) private readonly pool: ConnectionPool,
    @inject(Tokens.RunState) private readonly state: RunState,
    @inject(Tokens.Dialer) private readonly dialer: Dialer,
    @inject(Tokens.PeerKeeper) private readonly keeper: PeerKeeper,
    @inject(Tokens.PeerPresence) private readonly presence: PeerPresence,
  ) {}

  /** Deliver `data` to `peerId` once; resolves when its node acknowledged it. */
  send(peerId: string, data: Uint8Array, options: SendOptions = {}): Promise<void> {
    return this.deliver(peerId, options, (connection, envelope, remaining) =>
      connection.sequenced('send', data, envelope, { timeout: remaining, signal: options.signal, protocol: options.protocol }),
    )
  }

  /** Deliver a request to `peerId` once and resolve to its handler's answer. */
  request(peerId: string, data: Uint8Array, options: SendOptions = {}): Promise<Uint8Array> {
    return this.deliver(peerId, options, (connection, envelope, remaining) =>
      connection.sequenced('request', data, envelope, { timeout: remaining, signal: options.signal, protocol: options.protocol }),
    )
  }

  /**
   * The peer's connection now, or the next one made for it (its known
   * addresses, the node's connectors, the keeper), within `timeout` ms.
   */
  async connectionTo(peerId: string, options: { timeout?: number; signal?: AbortSignal } = {}): Promise<Connection> {
    if (!this.state.running) throw new NotStartedError()
    const pooled = this.pool.get(peerId)
    if (pooled !== undefined) return pooled
    const timeout = options.timeout ?? this.config.connection.requestTimeout
    const giveUp = AbortSignal.any([AbortSignal.timeout(Math.max(1, timeout)), ...(options.signal ? [options.signal] : [])])
    try {
      return await this.connection(peerId, giveUp, FIRST_REDIAL)
    } catch (error) {
      if (!giveUp.aborted) throw error
      if (options.signal?.aborted) throw new AbortError()
      throw new TimeoutError(`no connection to ${peerId} within ${timeout} ms`)
    }
  }

  private async deliver<T>(
    peerId: string,
    options: SendOptions,
    exchange: (connection: Connection, envelope: Uint8Array, remainingMs: number) => Promise<T>,
  ): Promise<T> {
    if (!this.state.running) throw new NotStartedError()
    const timeout = options.timeout ?? this.config.connection.requestTimeout
    const deadline = performance.now() + timeout
    const giveUp = AbortSignal.any([AbortSignal.timeout(Math.max(1, timeout)), ...(options.signal ? [options.signal] : [])])
    const { outbox, seq } = await this.number(peerId, giveUp)
    /** The session of the receiver the message was first handed to; a different one later means it restarted. */
    let handedTo: { session: string | undefined } | undefined
    let redial = FIRST_REDIAL
    try {
      for (;;) {
        if (giveUp.aborted) throw this.ended(options, timeout, handedTo !== undefined)
        const connection = await this.connection(peerId, giveUp, redial).catch((error: unknown) => {
          throw giveUp.aborted ? this.ended(options, timeout, handedTo !== undefined) : error
        })
        if (handedTo !== undefined && handedTo.session !== connection.remoteSession) {
          throw new DeliveryUnknownError(
            `${peerId} restarted after the message was handed to it: it may or may not have it, and no longer knows (not resent, so it is never delivered twice)`,
          )
        }
        const envelope = encodeEnvelope({ stream: outbox.stream, seq, settled: settledMark(outbox) })
        handedTo ??= { session: connection.remoteSession }
        try {
          return await exchange(connection, envelope, Math.max(1, deadline - performance.now()))
        } catch (error) {
          if (!resendable(error)) {
            if (giveUp.aborted || isCrustError(error, 'ERR_TIMEOUT')) throw this.ended(options, timeout, true)
            throw error
          }
          // The connection failed under it: wait for the next one (the pool drops the dead one as it closes).
          redial = FIRST_REDIAL
          await sleepUnlessAborted(10, giveUp)
        }
      }
    } finally {
      this.settle(peerId, outbox, seq)
    }
  }

  /** The peer's connection now, or one made for it; waits (dialling with backoff) until `signal` aborts. */
  private async connection(peerId: string, signal: AbortSignal, firstDelay: number): Promise<Connection> {
    let delay = firstDelay
    for (;;) {
      if (!this.state.running) throw new NotStartedError()
      const pooled = this.pool.get(peerId)
      if (pooled !== undefined) return pooled
      // A kept peer is being redialled by the keeper, in short attempts: wait for it rather than hold a long dial of our own.
      if (!this.keeper.isKept(peerId)) {
        const addresses = [...new Set([...this.keeper.addressesOf(peerId), ...this.presence.lastAddresses(peerId)])]
        try {
          // A bounded attempt: a dial to a peer that is down is not answered, and its own retries back off
          // (QUIC's Initial: 1, 2, 4 s...); a fresh attempt finds the peer sooner once it is back.
          return await this.dialer.connect({ peerId, addresses }, { retry: false, signal: AbortSignal.any([signal, AbortSignal.timeout(ATTEMPT_MS)]) })
        } catch (error) {
          if (signal.aborted) throw new AbortError()
          // With no address to dial, the peer may still connect to us before the deadline: keep
          // waiting (connect() itself fails fast then); a malformed peer id never connects.
          if (isPermanent(error) && (addresses.length > 0 || isCrustError(error, 'ERR_CONFIG'))) throw error
        }
      }
      // Not reachable yet: wait for a connection to appear (the keeper's, the peer's own dial) or the next try.
      await this.connected(peerId, delay, signal)
      delay = Math.min(MAX_REDIAL, delay * 2)
    }
  }

  /** Resolve when `peerId` connects, after `ms`, or on abort, whichever is first. */
  private connected(peerId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        off()
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      const off = this.events.on('peer:connected', (event) => {
        if (event.peerId === peerId) done()
      })
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /** A seq for a new message to `peerId`, waiting while its window is full. */
  private async number(peerId: string, signal: AbortSignal): Promise<{ outbox: Outbox; seq: number }> {
    for (;;) {
      let outbox = this.outboxes.get(peerId)
      if (outbox === undefined) {
        outbox = { stream: randomBytes(8).toString('hex'), next: 0, outstanding: new Set(), waiting: [] }
        this.outboxes.set(peerId, outbox)
      }
      // The receiver tracks a window of seqs above the oldest unsettled one; never send beyond it (nor past u32).
      if (outbox.next - settledMark(outbox) < SEQUENCE_WINDOW && outbox.next < 0xffffffff) {
        const seq = outbox.next++
        outbox.outstanding.add(seq)
        return { outbox, seq }
      }
      const current = outbox
      await new Promise<void>((resolve) => {
        current.waiting.push(resolve)
        signal.addEventListener('abort', () => resolve(), { once: true })
      })
      if (signal.aborted) throw new AbortError()
    }
  }

  /** Message `seq` is done (delivered or given up): move the window; forget an empty outbox. */
  private settle(peerId: string, outbox: Outbox, seq: number): void {
    outbox.outstanding.delete(seq)
    for (const wake of outbox.waiting.splice(0)) wake()
    if (outbox.outstanding.size === 0 && this.outboxes.get(peerId) === outbox) this.outboxes.delete(peerId)
  }

  /** The error for a message whose deadline passed or whose caller aborted. */
  private ended(options: SendOptions, timeout: number, handedOver: boolean): Error {
    if (options.signal?.aborted) return new AbortError()
    const fate = handedOver ? '; the peer may or may not have received it' : ' (it was never handed to the peer)'
    return new TimeoutError(`not delivered within ${timeout} ms${fate}`)
  }
}

/** Every seq below it is settled: the oldest outstanding one, or the next to be numbered. */
function settledMark(outbox: Outbox): number {
  for (const seq of outbox.outstanding) return seq
  return outbox.next
}

/** Failures after which the message is sent again on the peer's next connection. */
function resendable(error: unknown): boolean {
  if (isCrustError(error, 'ERR_DELIVERY_UNKNOWN')) {
    // An answer the receiver did not keep is not resendable: the request ran once already.
    const cause = (error as Error).cause
    return !(cause instanceof StreamResetError && cause.remote && cause.closeInfo === undefined && cause.resetCode === StreamResetCode.ANSWER_LOST)
  }
  if (isCrustError(error, 'ERR_CONNECTION_CLOSED')) return true
  return isCrustError(error, 'ERR_STREAM_RESET') && (error as StreamResetError).closeInfo !== undefined
}
