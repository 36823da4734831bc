import { AbortError, MessageTooLargeError, ProtocolError, RemoteHandlerError, TimeoutError } from '../errors.js'
import type { CloseInfo, Direction, TransportConnection, TransportStream } from '../transport/types.js'
import { CloseCode } from '../transport/types.js'
import { MessageKind } from './message-header.js'
import { readMessage, remoteResetError, writeMessage } from './message-io.js'
import { StreamResetCode } from './stream-codes.js'

/** Options for {@link Connection.send} and {@link Connection.request}. */
export interface SendOptions {
  /** Cancel the operation; it rejects with `AbortError`. */
  signal?: AbortSignal
  /** Deadline in ms for the whole operation; defaults to the node's `connection.requestTimeout`. */
  timeout?: number
}

/** Limits a connection applies to the messages it carries. */
export interface ConnectionSettings {
  readonly maxMessageSize: number
  readonly requestTimeout: number
}

/**
 * A connection to one authenticated peer, as handed to users. One message per
 * stream: `send` uses a unidirectional stream, `request` a bidirectional one
 * whose answer comes from the receiver's handler.
 */
export class Connection {
  /** When this connection lost a simultaneous-open tie-break, the connection that replaced it. */
  private replacement: Connection | undefined
  /** Wall-clock time the connection was established. */
  readonly openedAt = Date.now()
  /** Address the remote peer reported seeing us at (its echo), when it told us. */
  observedAddress: string | undefined
  /** Set when this connection was made over a fallback transport: which one was preferred and why it lost. */
  fallback: { readonly from: string; readonly reason: 'refused' | 'timeout' | 'blocked' | 'failed' } | undefined
  /** The role the remote claimed in its handshake. */
  remoteRole: 'node' | 'client' = 'node'

  constructor(
    /** The transport-level connection underneath. */
    readonly transportConnection: TransportConnection,
    private readonly settings: ConnectionSettings,
  ) {}

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

  /** Send one message on its own unidirectional stream. */
  async send(data: Uint8Array, options: SendOptions = {}): Promise<void> {
    const target = this.current()
    if (target !== this) return target.send(data, options)
    this.checkSize(data)
    await this.withDeadline(options, 'send', async (track) => {
      const stream = track(await this.transportConnection.openStream({ bidirectional: false }))
      await writeMessage(stream, MessageKind.SEND, data)
    }).catch((error: unknown) => {
      throw remoteResetError(error, data.byteLength, this.settings.maxMessageSize)
    })
  }

  /** Send a request on a bidirectional stream and resolve to the remote handler's answer. */
  async request(data: Uint8Array, options: SendOptions = {}): Promise<Uint8Array> {
    const target = this.current()
    if (target !== this) return target.request(data, options)
    this.checkSize(data)
    return this.withDeadline(options, 'request', async (track) => {
      const stream = track(await this.transportConnection.openStream({ bidirectional: true }))
      await writeMessage(stream, MessageKind.REQUEST, data)
      const answer = await readMessage(stream, this.settings.maxMessageSize)
      if (answer.kind === MessageKind.RESPONSE) return answer.data
      if (answer.kind === MessageKind.ERROR_RESPONSE) {
        throw new RemoteHandlerError(Buffer.from(answer.data).toString('utf8'))
      }
      throw new ProtocolError(`unexpected message kind ${answer.kind} in a response`)
    }).catch((error: unknown) => {
      throw remoteResetError(error, data.byteLength, this.settings.maxMessageSize)
    })
  }

  /** Close the connection; the remote side sees an orderly close. */
  async close(reason = 'closed by application'): Promise<void> {
    await this.transportConnection.close({ code: CloseCode.NORMAL, reason })
  }

  /** Route later calls to the connection that won a simultaneous open. */
  replaceWith(winner: Connection): void {
    this.replacement = winner
  }

  private current(): Connection {
    let target: Connection = this
    while (target.replacement !== undefined) target = target.replacement
    return target
  }

  private checkSize(data: Uint8Array): void {
    const limit = this.settings.maxMessageSize
    if (data.byteLength > limit) {
      throw new MessageTooLargeError(`message of ${data.byteLength} bytes exceeds the limit of ${limit}`, data.byteLength, limit)
    }
  }

  /**
   * Run `work` under the operation's deadline and abort signal. On either, the
   * stream it opened is reset so neither side keeps state for it.
   */
  private async withDeadline<T>(
    options: SendOptions,
    operation: string,
    work: (track: (stream: TransportStream) => TransportStream) => Promise<T>,
  ): Promise<T> {
    const { signal } = options
    if (signal?.aborted) throw new AbortError()
    const timeoutMs = options.timeout ?? this.settings.requestTimeout
    let stream: TransportStream | undefined
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stream?.reset(StreamResetCode.TIMEOUT)
        reject(new TimeoutError(`${operation} did not finish within ${timeoutMs} ms`))
      }, timeoutMs)
      onAbort = () => {
        stream?.reset(StreamResetCode.CANCELLED)
        reject(new AbortError())
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    const running = work((opened) => {
      stream = opened
      return opened
    })
    running.catch(() => {}) // reported through the race
    try {
      return await Promise.race([running, stop])
    } finally {
      clearTimeout(timer)
      if (onAbort) signal?.removeEventListener('abort', onAbort)
    }
  }
}
