/**
 * The application's protocols: a message handler and/or a stream handler per
 * protocol name (`node.handle('/chat/1', ...)`, `node.handleStream(...)`),
 * and the limits that bound what a peer can open of each.
 *
 * @packageDocumentation
 */
import type { Connection } from '../connection/connection.js'
import { type CrustStream, acceptAppStream } from '../connection/crust-stream.js'
import { MAX_HANDSHAKE_PROTOCOLS } from '../connection/handshake.js'
import type { MessageHandler } from '../connection/incoming.js'
import type { StreamRest } from '../connection/message-io.js'
import { checkAppProtocolName } from '../connection/protocol-name.js'
import { StreamResetCode } from '../connection/stream-codes.js'
import { ConfigError, ProtocolInUseError } from '../errors.js'
import type { TransportStream } from '../transport/types.js'

/**
 * Handles the streams peers open for a protocol. The stream is the
 * handler's: read it, write it, `end()` or `abort()` it. A handler that
 * throws (or whose promise rejects) aborts the stream.
 */
export type StreamHandler = (stream: CrustStream, connection: Connection) => void | Promise<void>

/** Options of `node.handle(protocol, ...)`. */
export interface HandleOptions {
  /** Replace the protocol's current handler instead of failing with `ProtocolInUseError`. */
  readonly replace?: boolean
}

/** Limits of a stream protocol: what peers may open of it. */
export interface StreamProtocolLimits {
  /** Streams of this protocol open from all peers at once; more are refused (`LimitExceededError` at the opener). Default 1024. */
  readonly maxInboundStreams?: number
  /** Streams of this protocol one peer may have open towards us at once; more are refused. Default 32. */
  readonly maxStreamsPerPeer?: number
  /** Abort an inbound stream (reset `TIMEOUT`) when no byte moved either way for this long (ms); 0 disables. Default 60 000. */
  readonly idleTimeout?: number
}

/** Options of `node.handleStream(protocol, ...)`. */
export interface HandleStreamOptions extends HandleOptions, StreamProtocolLimits {}

/** Defaults that hold against a hostile peer: a few dozen streams each, each bounded by the transport's window. */
export const DEFAULT_STREAM_LIMITS: Required<StreamProtocolLimits> = {
  maxInboundStreams: 1024,
  maxStreamsPerPeer: 32,
  idleTimeout: 60_000,
}


interface StreamEntry {
  readonly handler: StreamHandler
  readonly limits: Required<StreamProtocolLimits>
  /** Inbound streams open now, from all peers, and per peer. */
  open: number
  readonly perPeer: Map<string, number>
}

/** What accepting an inbound stream came to. */
export type StreamVerdict = 'accepted' | 'unsupported' | 'limit'

/** The application's protocol registry (owned by the `Registrar`). */
export class AppProtocols {
  private readonly messageHandlers = new Map<string, MessageHandler>()
  private readonly streamHandlers = new Map<string, StreamEntry>()

  /** Handle messages addressed to `protocol`. */
  handle(protocol: string, handler: MessageHandler, options: HandleOptions = {}): void {
    checkAppProtocolName(protocol)
    if (typeof handler !== 'function') throw new ConfigError(`the handler of ${protocol} is not a function`)
    if (this.messageHandlers.has(protocol) && options.replace !== true) throw new ProtocolInUseError(protocol)
    this.messageHandlers.set(protocol, handler)
  }

  /** Handle streams peers open for `protocol`, within `options`' limits. */
  handleStream(protocol: string, handler: StreamHandler, options: HandleStreamOptions = {}): void {
    checkAppProtocolName(protocol)
    if (typeof handler !== 'function') throw new ConfigError(`the stream handler of ${protocol} is not a function`)
    const previous = this.streamHandlers.get(protocol)
    if (previous !== undefined && options.replace !== true) throw new ProtocolInUseError(protocol)
    const limits = { ...DEFAULT_STREAM_LIMITS }
    for (const key of Object.keys(DEFAULT_STREAM_LIMITS) as Array<keyof StreamProtocolLimits>) {
      const value = options[key]
      if (value === undefined) continue
      if (!Number.isInteger(value) || value < (key === 'idleTimeout' ? 0 : 1)) {
        throw new ConfigError(`${protocol}: ${key} must be an integer of at least ${key === 'idleTimeout' ? 0 : 1}, got ${value}`)
      }
      limits[key] = value
    }
    // A replacement keeps counting the streams its predecessor accepted.
    this.streamHandlers.set(protocol, { handler, limits, open: previous?.open ?? 0, perPeer: previous?.perPeer ?? new Map() })
  }

  /** Stop handling `protocol` (messages and streams); streams already open stay. True when it was handled. */
  unhandle(protocol: string): boolean {
    const hadMessages = this.messageHandlers.delete(protocol)
    const hadStreams = this.streamHandlers.delete(protocol)
    return hadMessages || hadStreams
  }

  /** The protocols handled, messages or streams, sorted. */
  names(): string[] {
    return [...new Set([...this.messageHandlers.keys(), ...this.streamHandlers.keys()])].sort()
  }

  /** What the handshake announces: the first {@link MAX_HANDSHAKE_PROTOCOLS} names. */
  announced(): string[] {
    return this.names().slice(0, MAX_HANDSHAKE_PROTOCOLS)
  }

  /** The message handler of `protocol`, if any. */
  messageHandler(protocol: string): MessageHandler | undefined {
    return this.messageHandlers.get(protocol)
  }

  /**
   * A peer opened a stream for `protocol`: refuse it (reset with a typed
   * code) when nothing handles it or its limits are reached, else accept it
   * and start the handler. `report` hears of a handler that failed,
   * `onLimit` of a refusal at a limit (its config name).
   */
  acceptStream(
    protocol: string,
    stream: TransportStream,
    rest: StreamRest,
    connection: Connection,
    report: (error: unknown) => void,
    onLimit?: (limit: string) => void,
  ): StreamVerdict {
    const entry = this.streamHandlers.get(protocol)
    if (entry === undefined) {
      stream.reset(StreamResetCode.PROTOCOL_NOT_SUPPORTED)
      return 'unsupported'
    }
    const peerId = connection.peerId
    const fromPeer = entry.perPeer.get(peerId) ?? 0
    if (entry.open >= entry.limits.maxInboundStreams || fromPeer >= entry.limits.maxStreamsPerPeer) {
      stream.reset(StreamResetCode.LIMIT_EXCEEDED)
      onLimit?.(entry.open >= entry.limits.maxInboundStreams ? 'protocol.maxInboundStreams' : 'protocol.maxStreamsPerPeer')
      return 'limit'
    }
    entry.open++
    entry.perPeer.set(peerId, fromPeer + 1)
    const done = connection.serving()
    connection.markActive()
    const release = (): void => {
      done()
      entry.open--
      const left = (entry.perPeer.get(peerId) ?? 1) - 1
      if (left === 0) entry.perPeer.delete(peerId)
      else entry.perPeer.set(peerId, left)
      connection.markActive()
    }
    const crust = acceptAppStream(stream, protocol, connection, rest, entry.limits.idleTimeout, release)
    try {
      const result = entry.handler(crust, connection)
      if (result instanceof Promise) {
        result.catch((error: unknown) => {
          crust.abort(StreamResetCode.PROTOCOL_ERROR)
          report(error)
        })
      }
    } catch (error) {
      crust.abort(StreamResetCode.PROTOCOL_ERROR)
      report(error)
    }
    return 'accepted'
  }
}
