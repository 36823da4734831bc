import { MessageTooLargeError, ProtocolError } from '../errors.js'
import type { TransportStream } from '../transport/types.js'
import type { Connection } from './connection.js'
import type { ConnectionBudget } from './message-budget.js'
import { MessageKind, NAMED } from './message-header.js'
import { type StreamRest, readMessage, writeMessage } from './message-io.js'
import { decodeNamePrefix, isAppProtocolName } from './protocol-name.js'
import { ProtocolStream } from './protocol-stream.js'
import { ENVELOPE_SIZE, type KeptAnswer, type SequencedInbox, decodeEnvelope } from './sequenced.js'
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
  /** The application protocol it was addressed to (`send(data, { protocol })`); undefined for the default handler's messages. */
  readonly protocol?: string | undefined
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
  /** Which peer-addressed messages were delivered already; without it they are refused. */
  readonly inbox?: SequencedInbox
  /** True when messages for application protocol `protocol` have a handler; without it named messages are refused. */
  handlesMessages?(protocol: string): boolean
  /** Accept (or refuse, with a reset) an application stream; without it every such stream is refused. */
  appStream?(protocol: string, stream: TransportStream, rest: StreamRest, connection: Connection): void
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
  const { maxMessageSize, report, protocol } = context
  let message: Awaited<ReturnType<typeof readMessage>>
  try {
    message = await readMessage(stream, maxMessageSize, context.budget)
  } catch (error) {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
    report(error)
    return
  }
  let kind = message.kind
  let data = message.data
  if (kind === MessageKind.PROTOCOL && stream.bidirectional && message.rest !== undefined) {
    const name = Buffer.from(message.data).toString('utf8')
    if (!protocol(new ProtocolStream(name, stream, message.rest), connection)) stream.reset(StreamResetCode.REFUSED)
    return
  }
  let appProtocol: string | undefined
  if (kind >= MessageKind.STREAM) {
    // An application stream, or a message addressed to an application protocol.
    const named = readNamed(stream, connection, context, kind, data, message.rest)
    if (named === undefined) return
    ;({ kind, data, protocol: appProtocol } = named)
  }
  const sequenced = kind === MessageKind.SEQ_SEND || kind === MessageKind.SEQ_REQUEST
  const isRequest = kind === MessageKind.REQUEST || kind === MessageKind.SEQ_REQUEST
  // Every message travels on a bidirectional stream: a request's answer, a send's acknowledgement come back on it.
  if ((!isRequest && kind !== MessageKind.SEND && kind !== MessageKind.SEQ_SEND) || !stream.bidirectional) {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
    report(new ProtocolError(`unexpected message kind ${kind} on a new ${stream.bidirectional ? 'bidirectional' : 'unidirectional'} stream`))
    return
  }
  if (!sequenced) {
    await deliver(stream, connection, context, data, isRequest, undefined, appProtocol)
    return
  }
  const inbox = context.inbox
  if (inbox === undefined) {
    stream.reset(StreamResetCode.REFUSED)
    return
  }
  let decoded: ReturnType<typeof decodeEnvelope>
  try {
    decoded = decodeEnvelope(data)
  } catch (error) {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
    report(error)
    return
  }
  const { envelope } = decoded
  const admitted = inbox.admit(connection.peerId, envelope)
  if (admitted.verdict === 'stale') {
    stream.reset(StreamResetCode.REFUSED) // the sender gave up on it already
    return
  }
  if (admitted.verdict === 'duplicate') {
    // Delivered before: acknowledge again, or give the answer given then; never deliver twice.
    if (!isRequest) {
      await writeMessage(stream, MessageKind.ACK, EMPTY).catch(report)
      return
    }
    if (admitted.answer === undefined) {
      stream.reset(StreamResetCode.ANSWER_LOST)
      return
    }
    const kept = await admitted.answer
    await writeMessage(stream, kept.kind, kept.data).catch(report)
    return
  }
  await deliver(
    stream,
    connection,
    context,
    decoded.data,
    isRequest,
    isRequest ? (answer) => inbox.keepAnswer(connection.peerId, envelope, answer) : undefined,
    appProtocol,
  )
}

/**
 * A STREAM header: hand the stream over (undefined: nothing more to do). A
 * named message: its protocol, checked to be handled before anything else
 * happens (a refusal is a `PROTOCOL_NOT_SUPPORTED` reset, the sender's
 * `ProtocolNotSupportedError`), and the message as its unnamed kind.
 */
function readNamed(
  stream: TransportStream,
  connection: Connection,
  context: ServeContext,
  kind: MessageKind,
  data: Uint8Array,
  rest: StreamRest | undefined,
): { kind: MessageKind; data: Uint8Array; protocol: string } | undefined {
  if (kind === MessageKind.STREAM) {
    const name = Buffer.from(data).toString('latin1')
    if (!stream.bidirectional || rest === undefined || !isAppProtocolName(name)) {
      stream.reset(StreamResetCode.PROTOCOL_ERROR)
      context.report(new ProtocolError('malformed application stream header'))
    } else if (context.appStream === undefined) stream.reset(StreamResetCode.PROTOCOL_NOT_SUPPORTED)
    else context.appStream(name, stream, rest, connection)
    return undefined
  }
  let named: ReturnType<typeof decodeNamePrefix>
  try {
    named = decodeNamePrefix(data)
  } catch (error) {
    stream.reset(StreamResetCode.PROTOCOL_ERROR)
    context.report(error)
    return undefined
  }
  if (context.handlesMessages?.(named.protocol) !== true) {
    stream.reset(StreamResetCode.PROTOCOL_NOT_SUPPORTED)
    return undefined
  }
  const base = (kind & ~NAMED) as MessageKind
  const size = named.rest.byteLength - (base === MessageKind.SEQ_SEND || base === MessageKind.SEQ_REQUEST ? ENVELOPE_SIZE : 0)
  if (size > context.maxMessageSize) {
    stream.reset(StreamResetCode.MESSAGE_TOO_LARGE)
    context.report(new MessageTooLargeError(`incoming message of ${size} bytes exceeds the limit of ${context.maxMessageSize}`, size, context.maxMessageSize))
    return undefined
  }
  return { kind: base, data: named.rest, protocol: named.protocol }
}

/**
 * Hand a whole message to the application: acknowledge a send first (the
 * sender learns of delivery to this node, not of the handler's work), answer
 * a request with what the handler returns. `keep` receives a request's
 * answer as it will go out, for a resend to get the same one.
 */
async function deliver(
  stream: TransportStream,
  connection: Connection,
  context: ServeContext,
  data: Uint8Array,
  isRequest: boolean,
  keep: ((answer: Promise<KeptAnswer>) => void) | undefined,
  protocol: string | undefined,
): Promise<void> {
  const { dispatch, report } = context
  connection.countReceived(data.byteLength)
  if (!isRequest) writeMessage(stream, MessageKind.ACK, EMPTY).catch(report)
  const incoming: IncomingMessage = { peerId: connection.peerId, data, connection, isRequest, protocol }
  const outcome: Promise<KeptAnswer> = Promise.resolve()
    .then(() => dispatch(incoming))
    .then(
      (answer) => ({ kind: MessageKind.RESPONSE, data: answer ?? EMPTY }),
      (error: unknown) => {
        if (!isRequest) throw error
        return { kind: MessageKind.ERROR_RESPONSE, data: Buffer.from(errorMessage(error)) }
      },
    )
  keep?.(outcome)
  let answer: KeptAnswer
  try {
    answer = await outcome
  } catch (error) {
    report(error, 'local') // a send's handler threw: nobody to tell but the node
    return
  }
  if (!isRequest) return
  // Only an answer counts as a message sent; an error response does not.
  const counts = answer.kind === MessageKind.RESPONSE
  await writeMessage(stream, answer.kind, answer.data).then(() => {
    if (counts) connection.countSent(answer.data.byteLength)
  }, report)
}
