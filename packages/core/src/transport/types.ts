/**
 * The transport plugin contract. A transport moves bytes securely between two
 * nodes and multiplexes streams; it knows nothing of pools, retries, racing or
 * blacklists, which the core owns. Third-party transports implement exactly
 * these types and nothing else from the core.
 *
 * @packageDocumentation
 */
import type { Logger } from '../logger.js'

/** Which side opened a connection or stream. */
export type Direction = 'inbound' | 'outbound'

/**
 * Reason codes carried when a connection closes. Transports send them to the
 * remote side (a mux GO_AWAY frame, a QUIC application close code) so that both
 * sides see the same typed reason.
 */
export const CloseCode = {
  /** Orderly close by the application. */
  NORMAL: 0,
  /** The peer violated the wire protocol. */
  PROTOCOL_ERROR: 1,
  /** The peer's certificate failed authentication. */
  AUTH_FAILED: 2,
  /** The peer (or its address) is blacklisted. */
  BLACKLISTED: 3,
  /** The peer is on another network. */
  NETWORK_MISMATCH: 4,
  /** A connection limit was reached. */
  LIMIT_REACHED: 5,
  /** Nothing was received within the idle timeout. */
  IDLE_TIMEOUT: 6,
  /** Simultaneous open: this connection lost the tie-break to another one. */
  DUPLICATE: 7,
  /** An internal error. */
  INTERNAL: 8,
  /** The node is shutting down. */
  SHUTDOWN: 9,
  /** The handshake did not complete in time. */
  HANDSHAKE_TIMEOUT: 10,
  /** The peer claimed the node role but could not be reached at its claimed addresses. */
  UNREACHABLE: 11,
  /** The node was full and closed this, its least valuable connection, to admit another. */
  PRUNED: 12,
  /** Nothing was heard from the peer for `connection.pathTimeout` while waiting for it: the path is dead. */
  PATH_LOST: 13,
} as const
/** A value of {@link CloseCode}; unknown numbers from a remote peer are passed through. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/** How and why a connection ended. */
export interface CloseInfo {
  /** One of {@link CloseCode} (a remote peer may send other numbers). */
  readonly code: number
  /** Human-readable reason, short. */
  readonly reason: string
  /** True when the remote side initiated the close. */
  readonly remote: boolean
  /** The local error that caused the close, if any. */
  readonly error?: Error
}

/**
 * One stream of a multiplexed connection. Reading is by async iteration and
 * applies backpressure: flow-control credit returns to the sender only as the
 * application consumes chunks. A unidirectional stream is write-only for its
 * opener and read-only for its acceptor. When the connection closes, pending
 * and later reads and writes reject with a `StreamResetError` whose
 * `closeInfo` says how it closed, as far as the transport knows then (a
 * stream is not ended cleanly by its connection closing).
 */
export interface TransportStream extends AsyncIterable<Uint8Array> {
  /** Stream id, unique within its connection. */
  readonly id: number
  /** `outbound` when this side opened the stream. */
  readonly direction: Direction
  /** False for unidirectional streams. */
  readonly bidirectional: boolean
  /**
   * Queue `data` for sending. Resolves once it is handed to the connection
   * (after waiting for flow-control credit), so awaiting each write bounds memory.
   * With `end: true` the write side is closed after `data` (one FIN frame).
   * Rejects with `StreamResetError` if the stream was reset.
   */
  write(data: Uint8Array, options?: { end?: boolean }): Promise<void>
  /** Half-close: the remote reader sees the end of the stream after all data. */
  end(): Promise<void>
  /** Close both directions abruptly; the remote side's reads and writes fail with `code`. */
  reset(code?: number): void
}

/** The verified identity of the remote end of a secured connection. */
export interface RemotePeer {
  /** Peer id derived from the certificate's public key. */
  readonly peerId: string
  /** DER of the remote leaf certificate, when one was presented. */
  readonly certificate?: Uint8Array
}

/** A secured, multiplexed connection produced by a transport. */
export interface TransportConnection {
  /** Unique id for logs. */
  readonly id: string
  /** The transport's id, e.g. `tcp`. */
  readonly transport: string
  readonly direction: Direction
  /** The remote address in the transport's address form, e.g. `tcp://203.0.113.5:4001`. */
  readonly remoteAddress: string
  /** The local address of this connection, same form. */
  readonly localAddress: string
  /** Who is on the other end, as authenticated by TLS and the core's auth mode. */
  readonly remotePeer: RemotePeer
  /**
   * Open a new stream. Waits for stream credit from the remote instead of failing.
   * `messageBytes`, when given, says the stream carries one message of about
   * that many bytes and its answer (a request or a send): a transport may
   * carry such streams on a cheaper path (QUIC: its message channel).
   */
  openStream(options: { bidirectional: boolean; signal?: AbortSignal; messageBytes?: number }): Promise<TransportStream>
  /**
   * Register the handler for streams the remote opens. Streams that arrived
   * before the handler was set are delivered when it is set.
   */
  onStream(handler: (stream: TransportStream) => void): void
  /** Close the connection, telling the remote side `code` and `reason`. Idempotent. */
  close(options?: { code?: number; reason?: string }): Promise<void>
  /** Settles (never rejects) once the connection is fully closed, for any reason. */
  readonly closed: Promise<CloseInfo>
  /** How the path was made, when the transport itself knows (a relay says `relayed`); the core decides otherwise. */
  readonly method?: ConnectionMethod
  /**
   * When bytes last arrived from the peer, on the `performance.now()` clock.
   * Optional: the core's dead-path detection counts it as proof that the
   * path is alive (e.g. acknowledgements of a long transfer), and relies on
   * its own probes without it.
   */
  readonly lastReceivedAt?: number
  /**
   * The round-trip time the transport measures itself (ms), e.g. from its
   * keep-alive pings; 0 or `NaN` until measured. Optional: the core shows it
   * in `connection.stats.rtt` when the transport measured after the last ping.
   */
  readonly rtt?: number
}

/**
 * How a connection's path was made. Core and the Crust plugins use `direct`
 * (a plain dial), `upnp` (through a port mapping the listener's UPnP gateway
 * holds), `punched` (UDP hole punching through both NATs) and `relayed`
 * (through a third node, still end-to-end encrypted). A third-party plugin
 * (NAT-PMP, TURN, ...) may report its own name: 1 to 32 characters of `a-z`,
 * `0-9` and `-`, starting with a letter (see {@link isConnectionMethod}); the
 * handshake refuses anything else from a peer.
 */
export type ConnectionMethod = 'direct' | 'upnp' | 'punched' | 'relayed' | (string & {})

/** The form of a {@link ConnectionMethod} name: what the handshake accepts from a peer. */
export const CONNECTION_METHOD_PATTERN: RegExp = /^[a-z][a-z0-9-]{0,31}$/

/** True when `name` is a well-formed {@link ConnectionMethod}, one the handshake carries. */
export function isConnectionMethod(name: string): name is ConnectionMethod {
  return CONNECTION_METHOD_PATTERN.test(name)
}

/**
 * True for the methods the listener decides from the address dialled (`direct`,
 * `upnp`); for every other method (`punched`, `relayed`, a plugin's own) only
 * the dialer knows, so its HELLO tells the listener (`via`).
 */
export function isDialerMethod(method: ConnectionMethod | undefined): method is ConnectionMethod {
  return method !== undefined && method !== 'direct' && method !== 'upnp'
}

/** Options for {@link Transport.dial}. */
export interface DialOptions {
  /** Aborts the dial, including the TLS handshake; the promise rejects with `AbortError`. */
  signal?: AbortSignal
  /** When set, the remote certificate must belong to this peer (auth mode `peer-id`, `ca`). */
  expectedPeerId?: string
  /**
   * Send from a socket of this connection's own, bound to this local port,
   * instead of the node's shared one (hard-NAT hole punching: the NAT mapping
   * that reached the peer belongs to that port); 0 binds an ephemeral port,
   * a fresh path through NATs that still hold state for the shared socket's
   * (a router that forwards its packets to a peer's previous run). The
   * `quic` transport honours it; others ignore it, so pass it with
   * `quic://` addresses only.
   */
  localPort?: number
}

/** A parsed transport address. */
export interface SocketAddress {
  /** Transport scheme, e.g. `tcp`, `quic`. */
  readonly transport: string
  /** IPv4 or IPv6 literal (no brackets), or a host name. */
  readonly host: string
  readonly port: number
}

/** A transport plugin instance, made by its factory with the node's components. */
export interface Transport {
  /** Short id, also the address scheme it handles (`tcp`, `quic`, `ws`). */
  readonly id: string
  /** Addresses to listen on when the node config names none, e.g. `tcp://0.0.0.0:0`. */
  readonly defaultListenAddresses: readonly string[]
  /** True when this transport can dial `address`. */
  canDial(address: string): boolean
  /** Start listening; resolves once bound. Inbound secured connections go to `components.onInboundConnection`. */
  listen(address: string): Promise<void>
  /** Addresses peers can dial right now (wildcards expanded to interface addresses). */
  addresses(): string[]
  /** Dial and secure a connection. Rejects with a typed error (`AuthenticationError`, `AbortError`, `DialError`, ...). */
  dial(address: string, options?: DialOptions): Promise<TransportConnection>
  /** Stop listening and close every connection this transport made. */
  close(): Promise<void>
  /** Raw datagrams on the transport's socket, for NAT traversal plugins (UDP transports only). */
  readonly datagrams?: DatagramEndpoint
}

/** The decision of the core's gate about a not-yet-secured inbound connection. */
export type GateDecision = { readonly allow: true } | { readonly allow: false; readonly code: number; readonly reason: string }

/**
 * Lets the core refuse an inbound connection by its address alone, before any
 * TLS work is spent on it (blacklisted IPs and CIDRs, per-IP limits).
 */
export interface ConnectionGate {
  /**
   * Called when a remote address first reaches the transport. If it returns
   * `allow: true` the transport must call the returned `release` when that
   * connection attempt ends (secured or not), so the core can count it.
   */
  admitInbound(remote: SocketAddress): GateDecision & { release?: () => void }
}

/** TLS material and peer verification, following the node's auth mode. */
export interface SecurityContext {
  /** `none`: encrypted, peer not validated. `peer-id`: the cert's key must match the dialled id. `ca`: the cert must chain to `ca`. */
  readonly mode: 'none' | 'peer-id' | 'ca'
  /** Our peer id. */
  readonly peerId: string
  /** PEM of our certificate (chain, leaf first). */
  readonly certificatePem: string
  /** PEM of our private key. */
  readonly privateKeyPem: string
  /** PEM CA certificates to trust in `ca` mode; empty otherwise. */
  readonly ca: readonly string[]
  /**
   * Check the remote's leaf certificate after the TLS handshake and return its
   * identity. Throws `AuthenticationError` when the auth mode rejects it
   * (no certificate, bad self-signature, or a key that is not `expectedPeerId`).
   * Chain validation for `ca` mode is done by the TLS stack with {@link ca}.
   */
  verifyRemote(certificateDer: Uint8Array | undefined, expectedPeerId?: string): RemotePeer
}

/** Timing and size limits the core hands to every transport. */
export interface TransportLimits {
  /** Close a connection when nothing was received for this long (ms); 0 disables. */
  readonly idleTimeout: number
  /** Send a keep-alive ping this often (ms) so the peer's idle timer does not fire; 0 disables. */
  readonly keepAliveInterval: number
  /** Give up on a TLS handshake that takes longer (ms). */
  readonly handshakeTimeout: number
  /** Most streams the remote may have open towards us at once. */
  readonly maxInboundStreams: number
}

/** What a transport factory receives from the node (injected by the core). */
export interface TransportComponents {
  readonly security: SecurityContext
  readonly gate: ConnectionGate
  readonly limits: TransportLimits
  readonly logger: Logger
  /** Hand an inbound, secured connection to the core. */
  onInboundConnection(connection: TransportConnection): void
  /**
   * Tell the core an inbound attempt failed before it could be handed over
   * (TLS failure, handshake timeout, refused certificate), so users see it as
   * a `connection:rejected` event.
   */
  onInboundFailure(remoteAddress: string, error: Error): void
}

/**
 * A transport plugin as users pass it in config: `tcp(options)` returns one,
 * and the node calls it with its components, as js-libp2p does.
 */
export type TransportFactory = (components: TransportComponents) => Transport

/** A UDP endpoint as seen by a datagram sender or receiver. */
export interface DatagramPeer {
  /** IP literal (IPv4-mapped IPv6 addresses are given as plain IPv4). */
  readonly host: string
  readonly port: number
}

/**
 * Raw access to a datagram transport's one socket, for NAT traversal: STUN
 * queries and hole-punch packets must leave from the very port the transport
 * listens and dials on, or the NAT mapping they learn or open is useless.
 * Optional: only transports over UDP offer it (QUIC does).
 */
export interface DatagramEndpoint {
  /** Bind the socket if the transport has not yet (a dial-only node binds lazily); resolves to its local port. */
  open(): Promise<number>
  /** The bound local port, once bound. */
  readonly localPort: number | undefined
  /** Send one datagram from the shared socket. Never throws for an unreachable target: the datagram is simply lost. */
  send(data: Uint8Array, to: DatagramPeer): Promise<void>
  /**
   * Receive datagrams that are not the transport's own protocol (a QUIC
   * packet always has the fixed bit 0x40 set in its first byte; STUN and
   * Crust punch packets never do). Returns an unsubscribe function.
   */
  onForeignDatagram(handler: (data: Uint8Array, from: DatagramPeer) => void): () => void
}
