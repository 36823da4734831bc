import { ProtocolError } from '../errors.js'
import type { TransportStream } from '../transport/types.js'
import type { Connection } from './connection.js'
import type { ConnectionBudget } from './message-budget.js'
import { MessageKind } from './message-header.js'
import { readMessage, writeMessage } from './message-io.js'
import { ProtocolStream } from './protocol-stream.js'
import { StreamResetCode } from './stream-codes.js'
import { errorMessage } from '../error-text.js'

/** A message received from a peer. */
export interface IncomingMessage {
  /** The authenticated sender. */
  readonly peerId: string
  /** The payload. */
  readonly data: Uint8Array
  /** The connection it came on; reply or send more through it. */
  readonly connection: Connection
  /** True for a request: the handler's return value is sent back as the answer. */
  readonly isRequest: boolean
}

/**
 * Handles incoming messages. Return a `Uint8Array` to answer a request
 * (returning nothing answers with an empty payload); a thrown error is sent
 * back to the requester as a `RemoteHandlerError`.
 */
export type MessageHandler = (message: IncomingMessage) => Uint8Array | undefined | void | Promise<Uint8Array | undefined | void>

const EMPTY = new Uint8Array(0)

/** What serving a stream needs from the connection manager. */
export interface ServeContext {
  readonly maxMessageSize: number
  /** This connection's share of the node's budget for unfinished messages; none means unbudgeted. */
  readonly budget?: ConnectionBudget
  /** Deliver a message; the result answers a request. */
  dispatch(message: IncomingMessage): Promise<Uint8Array | undefined | void>
  /**
   * A peer's bad bytes (`fault` `'peer'`, the default) or a failure of our
   * own, e.g. a handler that threw (`'local'`): reported, never thrown.
   */
  report(error: unknown, fault?: 'peer' | 'local'): void
  /** Hand over a protocol stream; false when nothing serves that protocol. */
  protocol(stream: ProtocolStream, connection: Connection): boolean
}

/**
 * Serve one stream the remote opened: read its single message, hand it to
 * `dispatch`, and answer requests; or hand a protocol stream to its service.
 * Errors are reported, never thrown, so a peer's bad bytes cannot take the
 * node down. The connection counts the stream as busy meanwhile.
 */
export async function serveStream(stream: TransportStream, connection: Connection, context: ServeContext): Promise<void> {
  const done = connection.serving()
  try {
    await serve(stream, connection, context)
  } finally {
    done()
  }
}

async function serve(stream: TransportStream, connection: Connection, context: ServeContext): Promise<void> {
  const { maxMessageSize, dispatch, report, protocol } = context
  let message: Awaited<ReturnType<typeof readMessage>>
  try {
    message = await readMessage(stream, maxMessageSize, context.budget)
  } catch (error) {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
    report(error)
    return
  }
  if (message.kind === MessageKind.PROTOCOL && stream.bidirectional && message.rest !== undefined) {
    const name = Buffer.from(message.data).toString('utf8')
    if (!protocol(new ProtocolStream(name, stream, message.rest), connection)) stream.reset(StreamResetCode.REFUSED)
    return
  }
  const isRequest = message.kind === MessageKind.REQUEST
  // Both kinds travel on bidirectional streams: a request's answer, a send's acknowledgement come back on it.
  if ((message.kind !== MessageKind.SEND && !isRequest) || !stream.bidirectional) {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
    report(new ProtocolError(`unexpected message kind ${message.kind} on a new ${stream.bidirectional ? 'bidirectional' : 'unidirectional'} stream`))
    return
  }
  connection.countReceived(message.data.byteLength)
  if (!isRequest) {
    // The whole message is here: acknowledge it before the handler runs, so the
    // sender learns of delivery to this node, not of the application's work.
    writeMessage(stream, MessageKind.ACK, EMPTY).catch(report)
  }
  const incoming: IncomingMessage = { peerId: connection.peerId, data: message.data, connection, isRequest }
  let answer: Uint8Array | undefined | void
  try {
    answer = await dispatch(incoming)
  } catch (error) {
    if (!isRequest) {
      report(error, 'local')
      return
    }
    const text = errorMessage(error)
    await writeMessage(stream, MessageKind.ERROR_RESPONSE, Buffer.from(text)).catch(report)
    return
  }
  if (isRequest) {
    const response = answer ?? EMPTY
    await writeMessage(stream, MessageKind.RESPONSE, response).then(() => connection.countSent(response.byteLength), report)
  }
}
