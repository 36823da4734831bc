/**
 * What `crust peers`, `crust ping` and `crust send` ask of a node, whether
 * it runs in this process (a short-lived client node, or `crust start`
 * serving its control socket) or behind a control socket.
 *
 * @packageDocumentation
 */
import { type Connection, type CrustNode, isPeerId, isCrustError } from '@crust/core'
import { FailureError, messageOf } from '../errors.js'
import { FILE_PROTOCOL } from '../files/protocol.js'
import { type OpenFileStream, type RetryInfo, type SentFile, sendFile } from '../files/sender.js'
import { formatPeer } from '../render/format.js'
import { type PeerRow, peerRow } from './peer-rows.js'
import { parseTarget, type Target } from './target.js'

/** One ping's answer. */
export interface PingResult {
  readonly peerId: string
  /** Round-trip time in ms. */
  readonly rtt: number
  readonly transport: string
  readonly method: string
  readonly remoteAddress: string
}

/** A text message the peer took. */
export interface DeliveredText {
  readonly peerId: string
  readonly bytes: number
  readonly transport: string
}

/** Options of the operations that reach a peer. */
export interface OperationOptions {
  readonly signal?: AbortSignal
}

/** Options of {@link NodeOperations.sendFile}. */
export interface SendFileOperationOptions extends OperationOptions {
  /** Bytes handed to the stream so far (from where the receiver's partial file ended). */
  readonly onProgress?: (sent: number, total: number) => void
  /** Before each retry after a lost connection. */
  readonly onRetry?: (retry: RetryInfo) => void
  /** The name to offer (default: the file's base name). */
  readonly name?: string
  /** Retries after a lost connection without progress in between (default 5). */
  readonly retries?: number
}

/** The operations the client commands need. `target` is a `<peer>` argument as the user typed it. */
export interface NodeOperations {
  peers(): Promise<PeerRow[]>
  ping(target: string, options?: OperationOptions): Promise<PingResult>
  sendText(target: string, text: string, options?: OperationOptions): Promise<DeliveredText>
  /** `path` must be absolute. */
  sendFile(target: string, path: string, options?: SendFileOperationOptions): Promise<SentFile>
  /** Release what the operations hold (a control socket, a client node). */
  close(): Promise<void>
}

/** The operations run by a node in this process. */
export class LocalOperations implements NodeOperations {
  constructor(
    private readonly node: CrustNode,
    /** Also stop the node on close (a short-lived client node). */
    private readonly ownsNode = false,
  ) {}

  async peers(): Promise<PeerRow[]> {
    return this.node.connections.map(peerRow)
  }

  async ping(target: string, options: OperationOptions = {}): Promise<PingResult> {
    const connection = await this.connectionFor(target, options.signal)
    let rtt: number
    try {
      rtt = await connection.ping({ timeout: 5_000, signal: options.signal })
    } catch (error) {
      throw new FailureError(`no answer to ping from ${formatPeer(connection.peerId)}: ${messageOf(error)}`, { cause: error })
    }
    return {
      peerId: connection.peerId,
      rtt,
      transport: connection.transport,
      method: connection.method,
      remoteAddress: connection.remoteAddress,
    }
  }

  async sendText(target: string, text: string, options: OperationOptions = {}): Promise<DeliveredText> {
    const connection = await this.connectionFor(target, options.signal)
    const data = Buffer.from(text, 'utf8')
    try {
      // A request, not a one-way send, so the peer's answer confirms delivery.
      await connection.request(data, { signal: options.signal })
    } catch (error) {
      const why = isCrustError(error, 'ERR_REMOTE_HANDLER') ? `it refused the message: ${error.message}` : messageOf(error)
      throw new FailureError(`sending to ${formatPeer(connection.peerId)} failed: ${why}`, { cause: error })
    }
    return { peerId: connection.peerId, bytes: data.length, transport: connection.transport }
  }

  async sendFile(target: string, path: string, options: SendFileOperationOptions = {}): Promise<SentFile> {
    const parsed = parseTarget(target)
    let first: Connection | undefined = await this.connectionFor(target, options.signal)
    const peerId = first.peerId
    // A retry dials the peer again: at the given addresses, or wherever the node knows it to be.
    const open: OpenFileStream = async (signal) => {
      const connection = first ?? (parsed.addresses.length > 0 ? await this.dial({ ...parsed, peerId }, signal) : undefined)
      first = undefined
      return connection === undefined ? this.node.openStream(peerId, FILE_PROTOCOL, { signal }) : connection.openStream(FILE_PROTOCOL, { signal })
    }
    return sendFile(open, path, options)
  }

  async close(): Promise<void> {
    if (this.ownsNode) await this.node.stop()
  }

  /**
   * The connection to a target: dial it when addresses are given (the pool
   * returns an existing connection), otherwise find the peer among the
   * connected ones by id or id prefix, then among known bootstrap candidates.
   */
  async connectionFor(text: string, signal?: AbortSignal): Promise<Connection> {
    const target = parseTarget(text)
    if (target.addresses.length > 0) return this.dial(target, signal)
    const prefix = target.prefix ?? ''
    const matches = this.node.connections.filter((c) => c.peerId.startsWith(prefix) || c.peerId.startsWith(`bciq${prefix}`))
    if (matches.length === 1 && matches[0] !== undefined) return matches[0]
    if (matches.length > 1) throw new FailureError(`'${prefix}' matches ${matches.length} connected peers; give more of the peer id`)
    const known = isPeerId(prefix) ? this.node.bootstrapCandidates().find((c) => c.peerId === prefix) : undefined
    if (known !== undefined) return this.dial({ peerId: known.peerId, addresses: known.addresses, text }, signal)
    throw new FailureError(`not connected to a peer matching '${prefix}' and no address known; give one: peerId@tcp://host:port`)
  }

  private async dial(target: Target, signal?: AbortSignal): Promise<Connection> {
    try {
      return await this.node.connect({ ...(target.peerId ? { peerId: target.peerId } : {}), addresses: target.addresses }, { retry: false, signal })
    } catch (error) {
      const who = target.peerId ? `${formatPeer(target.peerId)} at ${target.addresses.join(', ')}` : target.addresses.join(', ')
      throw new FailureError(`cannot reach ${who}: ${dialFailure(error)}`, { cause: error })
    }
  }
}

/** Why a dial failed, once per address (the core's DialError message repeats the addresses). */
function dialFailure(error: unknown): string {
  if (!isCrustError(error, 'ERR_DIAL_FAILED') || error.errors.length === 0) return messageOf(error)
  const reasons = error.errors.map(({ address, error: e }) => {
    const text = messageOf(e)
    return text.startsWith(address) ? text : `${address}: ${text}`
  })
  return [...new Set(reasons)].join('; ')
}
