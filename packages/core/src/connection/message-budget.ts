/**
 * Memory budget and progress deadline for messages being received.
 *
 * A message header announces a length up to `maxMessageSize`; the bytes
 * then come at the sender's pace. Memory follows the bytes that actually
 * arrived (see `readMessage`), and what all unfinished messages hold is
 * budgeted per connection and node-wide, so a peer cannot make the node hold
 * more than its share by opening many streams. An unfinished message must
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
  private readonly open = new Set<PendingMessage>()
  private timer: NodeJS.Timeout | undefined

  constructor(readonly options: MessageBudgetOptions) {}

  /** The budget of one new connection. */
  forConnection(): ConnectionBudget {
    return new ConnectionBudget(this)
  }

  /** Unfinished messages tracked now. */
  get pending(): number {
    return this.open.size
  }

  /** @internal */
  track(message: PendingMessage): void {
    this.open.add(message)
    if (this.timer !== undefined || this.options.timeout <= 0) return
    // One timer for the whole node, running only while messages are unfinished.
    const period = Math.min(1_000, Math.max(10, this.options.timeout / 4))
    this.timer = setInterval(() => this.sweep(), period)
    this.timer.unref()
  }

  /** @internal */
  untrack(message: PendingMessage): void {
    this.open.delete(message)
  }

  private sweep(): void {
    // Stopped by a sweep that finds nothing, not by the last message ending,
    // so a stream of short messages does not start and stop a timer each.
    if (this.open.size === 0) {
      clearInterval(this.timer)
      this.timer = undefined
      return
    }
    const now = performance.now()
    for (const message of this.open) message.check(now)
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
  private windowStart = performance.now()
  private done = false
  /** Why the message was cut off, once it was. */
  failure: Error | undefined
  /** The length its header declares, once the header is in. */
  declared: number | undefined

  constructor(
    private readonly owner: ConnectionBudget,
    private readonly stream: TransportStream,
  ) {
    owner.node.track(this)
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
    } else if (node.used + n > total) {
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
    owner.used += n
    node.used += n
  }

  /** The message completed or failed: give its charge back. Idempotent. */
  end(): void {
    if (this.done) return
    this.done = true
    this.owner.used -= this.held
    this.owner.node.used -= this.held
    this.held = 0
    this.owner.node.untrack(this)
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

  private describe(): string {
    return this.declared === undefined ? 'a message whose header is incomplete' : `a message of ${this.declared} bytes`
  }

  private fail(error: Error, code: number): void {
    this.failure = error
    this.end()
    this.stream.reset(code)
  }
}
