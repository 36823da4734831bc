/**
 * The muxer's inbound-stream side: the peer's stream ids and SYN order, the
 * stream credit we grant it (MAX_STREAMS), and delivery of its streams to the
 * application's handler (buffered until one is set).
 *
 * @packageDocumentation
 */
import { CloseCode, type Logger, ProtocolError, type TransportStream } from '@crust/core'
import { errorMessage } from '@crust/core/plugin'
import { InboundStreamCredit } from './flow-control.js'
import { FrameType } from './frame.js'
import type { FrameWriter } from './frame-writer.js'
import type { MuxStream } from './stream.js'

/**
 * Accepts the streams the peer opens: checks that each SYN is the next id and
 * within our credit, returns credit as streams finish, and hands streams to
 * the handler in order.
 * @internal
 */
export class StreamAcceptor {
  private lastId: number
  private readonly credit: InboundStreamCredit
  private handler: ((stream: TransportStream) => void) | undefined
  private backlog: MuxStream[] | undefined = []

  /**
   * `outbound` when we dialled (the peer's ids are even); `maxInbound` is how
   * many of the peer's streams may be open at once.
   */
  constructor(
    direction: 'inbound' | 'outbound',
    maxInbound: number,
    private readonly writer: FrameWriter,
    private readonly logger: Logger | undefined,
  ) {
    this.lastId = direction === 'outbound' ? 0 : -1
    this.credit = new InboundStreamCredit(maxInbound)
  }

  /** Queue the first MAX_STREAMS (sent right after start). */
  start(): void {
    this.writer.queueControl(FrameType.MAX_STREAMS, 0, 0, this.credit.start())
  }

  /** A SYN for `id`: throws `ProtocolError` unless it is the next id and within credit. */
  open(id: number): void {
    if (!this.isRemoteId(id) || id !== this.lastId + 2) {
      throw new ProtocolError(`SYN for stream ${id}, expected ${this.lastId + 2}`)
    }
    if (!this.credit.open()) throw new ProtocolError(`Stream ${id} opened beyond the stream credit`)
    this.lastId = id
  }

  /** One of the peer's streams finished (or was reset at once): return its credit, batched. */
  finished(): void {
    const value = this.credit.finish()
    if (value !== undefined) this.writer.queueControl(FrameType.MAX_STREAMS, 0, 0, value)
  }

  /** A new stream is set up: send MAX_STREAMS if due, then hand the stream to the handler. */
  accepted(stream: MuxStream): void {
    const value = this.credit.due()
    if (value !== undefined) this.writer.queueControl(FrameType.MAX_STREAMS, 0, 0, value)
    this.deliver(stream)
  }

  /** Set the handler; streams that arrived before are delivered now, in order. */
  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler
    const backlog = this.backlog
    if (backlog === undefined) return
    this.backlog = undefined
    for (const stream of backlog) this.deliver(stream)
  }

  /** Whether `id` is in the peer's id space. */
  isRemoteId(id: number): boolean {
    return id !== 0 && (id & 1) === (this.lastId & 1)
  }

  /** Whether the peer opened `id` (a late frame for it is no error). */
  wasOpened(id: number): boolean {
    return id <= this.lastId
  }

  private deliver(stream: MuxStream): void {
    const handler = this.handler
    if (handler === undefined) {
      this.backlog?.push(stream)
      return
    }
    try {
      handler(stream)
    } catch (error) {
      this.logger?.warn(`stream handler threw: ${errorMessage(error)}`)
      stream.reset(CloseCode.INTERNAL)
    }
  }
}
