/**
 * Memory budget and progress deadline for messages being received.
 *
 * A message header announces a length up to `maxMessageSize`; the bytes
 * then come at the sender's pace. Memory follows the bytes that actually
 * arrived (see `readMessage`), and what all unfinished messages hold is
 * budgeted per connection and node-wide, so a peer cannot make the node hold
 * more than its share by opening many streams, and peers that fill the
 * node-wide budget cannot starve the others (each connection keeps a fair
 * share). An unfinished message must
 * also keep moving: one that receives less than `minRate` bytes per second
 * over a `timeout` window (a header and then silence, or a drip) is reset, so
 * a peer cannot hold the budget for free.
 *
 * @packageDocumentation
 */
import type { NodeConfig } from '../config/schema.js'
import { LimitExceededError, TimeoutError } from '../errors.js'
import type { TransportStream } from '../transport/types.js'
import { StreamResetCode } from './stream-codes.js'

/** Limits of a {@link MessageBudget}. */
export interface MessageBudgetOptions {
  /** Bytes of unfinished messages one connection may hold. */
  readonly perConnection: number
  /** Bytes of unfinished messages all connections together may hold. */
  readonly total: number
  /** Length of the window (ms) over which an unfinished message must progress; 0 disables the deadline. */
  readonly timeout: number
  /** Bytes per second an unfinished message must receive, averaged over each window. */
  readonly minRate: number
}

/**
 * What a chunk held in a list costs beyond its bytes (the view object and
 * its backing store's header), so a peer that sends a message in tiny pieces
 * is charged for the objects it makes us keep.
 */
export const CHUNK_OVERHEAD = 256

/**
 * The node's budget from its config. Neither budget is ever smaller than one
 * message of the largest size, so such a message always fits.
 */
export function createMessageBudget(config: Pick<NodeConfig, 'maxMessageSize' | 'connection'>): MessageBudget {
  const c = config.connection
  const perConnection = Math.max(c.maxPendingMessageBytes, config.maxMessageSize)
  return new MessageBudget({
    perConnection,
    total: Math.max(c.maxPendingMessageBytesTotal, perConnection),
    timeout: c.messageTimeout,
    minRate: c.minMessageRate,
  })
}

/** The node-wide budget; one per node. */
export class MessageBudget {
  /** Bytes charged by every connection together. */
  used = 0
  /** Connections holding any bytes now. */
  active = 0
  /** Unfinished messages; each knows its slot, so removal is a swap with the last (no hashing per message). */
  private readonly open: PendingMessage[] = []
  private timer: NodeJS.Timeout | undefined
  /**
   * The next sweep's time at the latest: a message's first window starts
   * here, which saves a clock read per message and never cuts a window
   * short (it may make it up to one sweep period longer).
   */
  nextSweep = 0
  private readonly period: number

  constructor(readonly options: MessageBudgetOptions) {
    this.period = Math.min(1_000, Math.max(10, options.timeout / 4))
  }

  /** The budget of one new connection. */
  forConnection(): ConnectionBudget {
    return new ConnectionBudget(this)
  }

  /** Unfinished messages tracked now. */
  get pending(): number {
    return this.open.length
  }

  /** @internal Returns the message's slot. */
  track(message: PendingMessage): number {
    if (this.timer === undefined && this.options.timeout > 0) {
      // One timer for the whole node, running only while messages are unfinished.
      this.timer = setInterval(() => this.sweep(), this.period)
      this.timer.unref()
      this.nextSweep = performance.now() + this.period
    }
    return this.open.push(message) - 1
  }

  /** @internal */
  untrack(slot: number): void {
    const open = this.open
    const last = open.pop() as PendingMessage
    if (slot < open.length) {
      open[slot] = last
      last.slot = slot
    }
  }

  private sweep(): void {
    // Stopped by a sweep that finds nothing, not by the last message ending,
    // so a stream of short messages does not start and stop a timer each.
    if (this.open.length === 0) {
      clearInterval(this.timer)
      this.timer = undefined
      return
    }
    const now = performance.now()
    this.nextSweep = now + this.period
    // Backwards: a message that fails leaves the list, and the last one takes its slot.
    for (let i = this.open.length - 1; i >= 0; i--) this.open[i]?.check(now)
  }
}

/** One connection's share of the {@link MessageBudget}. */
export class ConnectionBudget {
  /** Bytes charged by this connection's unfinished messages. */
  used = 0

  constructor(readonly node: MessageBudget) {}

  /** Start tracking a message arriving on `stream` (its header may not be in yet). */
  begin(stream: TransportStream): PendingMessage {
    return new PendingMessage(this, stream)
  }
}

/** A message whose bytes are still arriving: its memory charge and its progress. */
export class PendingMessage {
  /** Bytes charged to the budgets. */
  private held = 0
  /** Bytes received since the current window started. */
  private progress = 0
  private windowStart: number
  private done = false
  /** @internal Index in the node's list of unfinished messages. */
  slot: number
  /** Why the message was cut off, once it was. */
  failure: Error | undefined
  /** The length its header declares, once the header is in. */
  declared: number | undefined

  constructor(
    private readonly owner: ConnectionBudget,
    private readonly stream: TransportStream,
  ) {
    this.slot = owner.node.track(this)
    this.windowStart = owner.node.nextSweep
  }

  /** `n` bytes of the message arrived. */
  received(n: number): void {
    this.progress += n
  }

  /**
   * Charge `n` more bytes of memory. Throws (after resetting the stream)
   * with a {@link LimitExceededError} naming the budget that would overflow.
   */
  charge(n: number): void {
    if (this.failure !== undefined) throw this.failure
    const owner = this.owner
    const node = owner.node
    const { perConnection, total } = node.options
    let error: LimitExceededError | undefined
    if (owner.used + n > perConnection) {
      error = new LimitExceededError(
        `unfinished messages on this connection would hold more than ${perConnection} bytes (${this.describe()} refused)`,
        'connection.maxPendingMessageBytes',
      )
    } else if (node.used + n > total && owner.used + n > total / (node.active + (owner.used === 0 ? 1 : 0))) {
      // Over the node's total, only a connection holding more than its fair share is refused:
      // attackers filling the total cannot starve another peer's messages. So the total
      // may be overshot, by connections under their share, to twice its value at most.
      error = new LimitExceededError(
        `unfinished messages on all connections would hold more than ${total} bytes (${this.describe()} refused)`,
        'connection.maxPendingMessageBytesTotal',
      )
    }
    if (error !== undefined) {
      this.fail(error, StreamResetCode.LIMIT_EXCEEDED)
      throw error
    }
    this.held += n
    this.adjust(n)
  }

  /** The message completed or failed: give its charge back. Idempotent. */
  end(): void {
    if (this.done) return
    this.done = true
    this.adjust(-this.held)
    this.held = 0
    this.owner.node.untrack(this.slot)
  }

  /** @internal The node's sweep: reset a message that did not progress enough in its window. */
  check(now: number): void {
    const { timeout, minRate } = this.owner.node.options
    const elapsed = now - this.windowStart
    if (elapsed < timeout) return
    if (this.progress === 0 || this.progress < (minRate * elapsed) / 1000) {
      const error = new TimeoutError(
        `${this.describe()} received ${this.progress} bytes in ${Math.round(elapsed)} ms (at least ${minRate} bytes/s required)`,
      )
      this.fail(error, StreamResetCode.TIMEOUT)
      return
    }
    this.progress = 0
    this.windowStart = now
  }

  private adjust(delta: number): void {
    const owner = this.owner
    const before = owner.used
    owner.used += delta
    owner.node.used += delta
    if (before === 0 && owner.used > 0) owner.node.active++
    else if (before > 0 && owner.used === 0) owner.node.active--
  }

  private describe(): string {
    return this.declared === undefined ? 'a message whose header is incomplete' : `a message of ${this.declared} bytes`
  }

  private fail(error: Error, code: number): void {
    this.failure = error
    this.end()
    this.stream.reset(code)
  }
}
