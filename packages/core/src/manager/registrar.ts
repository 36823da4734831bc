/**
 * What the node serves: the message handler and `messages()` readers that
 * incoming messages are delivered to, and the service protocols served on
 * protocol streams (the built-in ping among them).
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import { type Connection, PING_PROTOCOL } from '../connection/connection.js'
import type { IncomingMessage, MessageHandler } from '../connection/incoming.js'
import type { StreamRest } from '../connection/message-io.js'
import type { ProtocolStream } from '../connection/protocol-stream.js'
import { StreamResetCode } from '../connection/stream-codes.js'
import { Tokens } from '../di/tokens.js'
import { ConfigError } from '../errors.js'
import { AsyncQueue } from '../events/async-queue.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { ProtocolHandler, ServiceStream } from '../service/types.js'
import type { TransportStream } from '../transport/types.js'
import { AppProtocols, type HandleOptions, type HandleStreamOptions, type StreamHandler } from './app-protocols.js'
import type { PeerReports } from './peer-reports.js'

/** Message delivery and the protocol registry. */
@injectable()
export class Registrar {
  private readonly queues = new Set<AsyncQueue<IncomingMessage>>()
  /** Service protocols served on protocol streams, by name. */
  private readonly protocols = new Map<string, ProtocolHandler>()
  private handler: MessageHandler | undefined
  /** The application's protocols: message and stream handlers by name. */
  private readonly apps = new AppProtocols()

  constructor(
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.PeerReports) private readonly reports: PeerReports,
  ) {
    this.protocols.set(PING_PROTOCOL, (stream) => void echoFrames(stream))
  }

  /** Serve a service protocol on protocol streams; returns a function that stops serving it. */
  handleProtocol(protocol: string, handler: ProtocolHandler): () => void {
    if (this.protocols.has(protocol)) throw new ConfigError(`protocol ${protocol} is already served`)
    this.protocols.set(protocol, handler)
    return () => {
      if (this.protocols.get(protocol) === handler) this.protocols.delete(protocol)
    }
  }

  /** Set the message handler (replaces any previous one). */
  handle(handler: MessageHandler | undefined): void {
    this.handler = handler
  }

  /** Handle messages addressed to `protocol`; `ProtocolInUseError` when it has a message handler already (unless `replace`). */
  handleMessages(protocol: string, handler: MessageHandler, options?: HandleOptions): void {
    this.apps.handle(protocol, handler, options)
    this.protocolsChanged()
  }

  /** Handle the streams peers open for `protocol`. */
  handleStreams(protocol: string, handler: StreamHandler, options?: HandleStreamOptions): void {
    this.apps.handleStream(protocol, handler, options)
    this.protocolsChanged()
  }

  /** Stop handling the application protocol `protocol` (messages and streams). */
  unhandle(protocol: string): boolean {
    const handled = this.apps.unhandle(protocol)
    if (handled) this.protocolsChanged()
    return handled
  }

  /** Call `listener` whenever the application protocols may have changed; returns the unsubscribe. */
  onProtocolsChange(listener: () => void): () => void {
    this.protocolListeners.add(listener)
    return () => this.protocolListeners.delete(listener)
  }

  private readonly protocolListeners = new Set<() => void>()

  private protocolsChanged(): void {
    for (const listener of this.protocolListeners) listener()
  }

  /** The application protocols handled, sorted. */
  appProtocols(): string[] {
    return this.apps.names()
  }

  /** The application protocols this node announces in its handshakes (bounded). */
  announcedProtocols(): string[] {
    return this.apps.announced()
  }

  /** True when messages addressed to `protocol` have a handler. */
  handlesMessages(protocol: string): boolean {
    return this.apps.messageHandler(protocol) !== undefined
  }

  /** A peer opened an application stream: refuse it or hand it to its handler. */
  serveAppStream(protocol: string, stream: TransportStream, rest: StreamRest, connection: Connection): void {
    this.apps.acceptStream(
      protocol,
      stream,
      rest,
      connection,
      (error) => this.reports.peerError(connection, error, 'local'),
      (limit) => this.reports.limitHit(limit),
    )
  }

  /** Incoming messages as an async iterator; a slow consumer slows the senders down (backpressure). */
  messages(capacity = 1024): AsyncIterable<IncomingMessage> {
    const queue = new AsyncQueue<IncomingMessage>(capacity)
    this.queues.add(queue)
    const queues = this.queues
    return {
      [Symbol.asyncIterator]() {
        const iterator = queue[Symbol.asyncIterator]()
        return {
          next: () => iterator.next(),
          return: async (value?: unknown) => {
            queues.delete(queue)
            return (await iterator.return?.(value)) ?? { done: true, value: undefined }
          },
        }
      },
    }
  }

  /** Deliver a message to the listeners, the readers and the handler; the handler's result answers a request. */
  async dispatch(message: IncomingMessage): Promise<Uint8Array | undefined | void> {
    this.events.emit('message', message)
    if (message.protocol !== undefined) {
      // A named message goes to its protocol's handler only (checked before it was acknowledged).
      const handler = this.apps.messageHandler(message.protocol)
      if (handler !== undefined) return handler(message)
      if (message.isRequest) throw new Error(`the peer stopped handling ${message.protocol}`)
      return undefined
    }
    for (const queue of this.queues) {
      // A reader that stopped iterating closes its queue: forget it.
      await queue.push(message).catch(() => this.queues.delete(queue))
    }
    if (this.handler) return this.handler(message)
    if (message.isRequest) throw new Error('the peer has no request handler')
    return undefined
  }

  /** Hand a protocol stream to its service; false when no service serves that protocol. */
  serveProtocol(stream: ProtocolStream, connection: Connection): boolean {
    const handler = this.protocols.get(stream.protocol)
    if (handler === undefined) return false
    if (stream.protocol !== PING_PROTOCOL) connection.markActive()
    try {
      handler(stream, connection)
    } catch (error) {
      stream.reset(StreamResetCode.PROTOCOL_ERROR)
      this.reports.peerError(connection, error, 'local')
    }
    return true
  }

  /** End every `messages()` reader (the node stops). */
  end(): void {
    for (const queue of this.queues) queue.end()
    this.queues.clear()
  }
}

/** The ping protocol's server side: echo each small frame until the stream ends. */
async function echoFrames(stream: ServiceStream): Promise<void> {
  try {
    for (;;) {
      const frame = await stream.readFrame(64)
      if (frame === undefined) break
      await stream.writeFrame(frame)
    }
    await stream.end()
  } catch {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
  }
}
