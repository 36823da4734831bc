/**
 * A hostile peer for attack tests: a real identity that completes Crust's
 * transport security and HELLO handshake against a real node, through any
 * transport factory, and then misbehaves at the stream level (raw bytes,
 * lying message headers, streams left unfinished, replies never read).
 *
 * It works on the {@link TransportConnection} interface only, so the same
 * attack runs over TCP, QUIC or a relayed connection.
 *
 * @packageDocumentation
 */
import { dialerHandshake, hashNetworkName, type HandshakeInfo } from '../connection/handshake.js'
import { encodeMessageHeader, type MessageKind } from '../connection/message-header.js'
import { createIdentity } from '../identity/identity.js'
import { createSecurityContext } from '../identity/security.js'
import { createLogger } from '../logger.js'
import type {
  CloseInfo,
  Transport,
  TransportFactory,
  TransportLimits,
  TransportStream,
} from '../transport/types.js'
import type { TransportConnection } from '../transport/types.js'
import { TestGate } from './gate.js'

/** Options of {@link HostilePeer.connect}. */
export interface HostilePeerOptions {
  /** The transport to attack through, e.g. `tcp()` or `quic()`. */
  readonly factory: TransportFactory
  /** The node's address, e.g. `tcp://127.0.0.1:4001`. */
  readonly address: string
  /** The node's network name (the HELLO must match it to be accepted). */
  readonly networkName: string
  /** The node's peer id, checked during the transport handshake when given. */
  readonly peerId?: string
  /** Role claimed in HELLO; default `client` (no reachability check to wait for). */
  readonly role?: 'node' | 'client'
  /** Limits of the hostile side's transport (idle timeout and keep-alive off by default). */
  readonly limits?: Partial<TransportLimits>
}

const DEFAULT_LIMITS: TransportLimits = { idleTimeout: 0, keepAliveInterval: 0, handshakeTimeout: 10_000, maxInboundStreams: 256 }

/** An authenticated peer that speaks raw stream bytes to a node. */
export class HostilePeer {
  private readonly streams: TransportStream[] = []

  private constructor(
    /** The hostile side's transport (closed by {@link close}). */
    readonly transport: Transport,
    /** The established, handshaken connection to the node. */
    readonly connection: TransportConnection,
    /** The hostile identity's peer id. */
    readonly peerId: string,
    /** The node's WELCOME. */
    readonly welcome: HandshakeInfo,
  ) {}

  /** Dial the node and complete the transport and HELLO handshakes, as a genuine peer would. */
  static async connect(options: HostilePeerOptions): Promise<HostilePeer> {
    const { identity } = await createIdentity()
    const security = createSecurityContext(identity, { mode: 'peer-id' })
    const limits = { ...DEFAULT_LIMITS, ...options.limits }
    const transport = options.factory({
      security,
      gate: new TestGate(),
      limits,
      logger: createLogger('silent', 'hostile'),
      onInboundConnection: (connection) => void connection.close(),
      onInboundFailure: () => {},
    })
    try {
      const connection = await transport.dial(options.address, options.peerId === undefined ? {} : { expectedPeerId: options.peerId })
      // Streams the node opens towards us are left unread: never draining them is part of being hostile.
      connection.onStream(() => {})
      const welcome = await dialerHandshake(connection, {
        networkHash: hashNetworkName(options.networkName),
        role: options.role ?? 'client',
        timeoutMs: limits.handshakeTimeout,
        addresses: [],
      })
      return new HostilePeer(transport, connection, identity.peerId, welcome)
    } catch (error) {
      await transport.close()
      throw error
    }
  }

  /** A message header (8 bytes) of `kind` that declares `length` payload bytes, whatever follows. */
  static header(kind: MessageKind, length: number): Uint8Array {
    return encodeMessageHeader(kind, length)
  }

  /** Settles when the node (or anything) closed the connection. */
  get closed(): Promise<CloseInfo> {
    return this.connection.closed
  }

  /**
   * Open a stream and write `bytes` as they are (not framed as a message);
   * `end` half-closes it afterwards. The stream is never read. Bidirectional
   * unless told otherwise, as the node expects for every message.
   */
  async open(bytes: Uint8Array, options: { bidirectional?: boolean; end?: boolean } = {}): Promise<TransportStream> {
    const stream = await this.connection.openStream({ bidirectional: options.bidirectional ?? true })
    this.streams.push(stream)
    await stream.write(bytes, options.end === true ? { end: true } : undefined)
    return stream
  }

  /**
   * Open `count` streams, each starting a message of `kind` that declares
   * `declared` bytes and then sends only `sent` of them, and leave them
   * unfinished. Settles with the streams opened once every write settled or
   * `waitMs` passed, whichever is first (a write the node refuses may wait
   * for flow-control credit that never comes).
   */
  async stall(count: number, kind: MessageKind, declared: number, sent = 0, waitMs = 5_000): Promise<TransportStream[]> {
    const bytes = new Uint8Array(8 + sent)
    bytes.set(HostilePeer.header(kind, declared), 0)
    const opened: TransportStream[] = []
    const writes = Array.from({ length: count }, async () => {
      const stream = await this.connection.openStream({ bidirectional: true })
      this.streams.push(stream)
      opened.push(stream)
      await stream.write(bytes)
    })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.allSettled(writes),
      new Promise((resolve) => {
        timer = setTimeout(resolve, waitMs)
      }),
    ])
    clearTimeout(timer)
    return opened
  }

  /** Reset every stream this peer opened, close the connection and the transport. */
  async close(): Promise<void> {
    for (const stream of this.streams) stream.reset(0)
    await this.connection.close().catch(() => {})
    await this.transport.close()
  }
}
