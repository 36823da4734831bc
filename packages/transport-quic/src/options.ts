/** Options of the {@link quic} transport factory. */
export interface QuicOptions {
  /** UDP port to listen on when the node config names no `listen` addresses (default 0: any free port). */
  port?: number
  /**
   * Host to listen on. Default `::` as one dual-stack socket (IPv4 and IPv6
   * on the same port), falling back to `0.0.0.0` where IPv6 is unavailable.
   */
  host?: string
  /**
   * Requested size of the UDP socket's kernel send and receive buffers
   * (default 4 MiB; Linux caps it at `net.core.rmem_max`/`wmem_max`). Small
   * buffers drop bursts, which QUIC then has to recover by retransmission.
   */
  socketBufferSize?: number
  /** Largest UDP payload sent to and accepted from non-loopback peers (default 1350, quiche's default). */
  maxUdpPayloadSize?: number
  /** Largest UDP payload on loopback, where the MTU is 64 KiB (default 65000). */
  loopbackUdpPayloadSize?: number
  /** Connection-level flow-control window granted to the peer at first (default 16 MiB). */
  initialMaxData?: number
  /** Per-stream flow-control window granted to the peer at first (default 1 MiB; quiche grows it for fast readers). */
  initialMaxStreamData?: number
  /** Most a connection's receive window may grow to (default 24 MiB). */
  maxConnectionWindow?: number
  /** Most a stream's receive window may grow to (default 16 MiB). */
  maxStreamWindow?: number
  /**
   * QUIC idle timeout used when the node's `connection.idleTimeout` is 0
   * (disabled): without one a vanished peer is never detected. Keep-alives
   * are then sent at a third of it, so a live but quiet peer is never
   * dropped (default 60 s).
   */
  deadPeerTimeout?: number
}

/** {@link QuicOptions} with every default filled in. */
export type ResolvedQuicOptions = Required<Omit<QuicOptions, 'host'>> & Pick<QuicOptions, 'host'>

const MiB = 1024 * 1024

/** Fill in the defaults of {@link QuicOptions}. */
export function resolveOptions(options: QuicOptions): ResolvedQuicOptions {
  return {
    port: options.port ?? 0,
    host: options.host,
    socketBufferSize: options.socketBufferSize ?? 4 * MiB,
    maxUdpPayloadSize: options.maxUdpPayloadSize ?? 1350,
    loopbackUdpPayloadSize: options.loopbackUdpPayloadSize ?? 65_000,
    initialMaxData: options.initialMaxData ?? 16 * MiB,
    initialMaxStreamData: options.initialMaxStreamData ?? 1 * MiB,
    maxConnectionWindow: options.maxConnectionWindow ?? 24 * MiB,
    maxStreamWindow: options.maxStreamWindow ?? 16 * MiB,
    deadPeerTimeout: options.deadPeerTimeout ?? 60_000,
  }
}
