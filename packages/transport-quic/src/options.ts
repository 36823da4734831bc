/**
 * Options of the QUIC transport, their validation and defaults.
 *
 * @packageDocumentation
 */
import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'

/** Options of the {@link quic} transport factory. */
export interface QuicOptions {
  /** UDP port to listen on when the node config names no `listen` addresses (0 to 65535; default 0: any free port). */
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
  /** Largest UDP payload sent to and accepted from non-loopback peers (1200 to 65527; default 1350, quiche's default). */
  maxUdpPayloadSize?: number
  /** Largest UDP payload on loopback, where the MTU is 64 KiB (1200 to 65527; default 65000). */
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
  /**
   * How long a retry token is accepted after the Retry that carried it
   * (ms, default 10 000). Tokens are also bound to the client's IP, port and
   * connection id, and good for one attempt.
   */
  retryTokenLifetime?: number
  /**
   * Retry and Version Negotiation packets the listener sends per second at
   * most, in bursts of up to one second's worth (default 1000). These go to
   * unvalidated (possibly forged) addresses; each is far smaller than the
   * 1200-byte datagram that drew it, and datagrams under 1200 bytes draw none.
   */
  statelessReplyRate?: number
  /**
   * Inbound handshakes in progress at most (default 256): a further attempt,
   * even with a valid token, is dropped until one finishes; the client
   * retransmits its Initial and gets in later.
   */
  maxPendingHandshakes?: number
  /**
   * Non-QUIC datagrams (STUN answers, punch packets) handed to services per
   * second at most, in bursts of up to one second's worth (default 500).
   */
  foreignDatagramRate?: number
  /**
   * Dropped datagrams are counted per reason (`transport.stats.drops`) and
   * summarised in one log line per this interval (ms, default 30 000), never
   * logged per packet.
   */
  dropSummaryInterval?: number
  /**
   * Offer message channels (ALPN `crust/3`, default true). False offers
   * only `crust/1`: every request and send takes a QUIC stream of its own,
   * which under loss stalls only the messages in a lost datagram, at ~15×
   * the CPU per small message (see the README's "Performance").
   */
  messageChannel?: boolean
  /**
   * A message channel this node opened is closed after this long (ms,
   * default 10 000) without a message on it, so an idle connection holds
   * none (~27 KB less per connection); the next message opens a new one.
   */
  messageChannelIdleTimeout?: number
}

/** {@link QuicOptions} with every default filled in. */
export type ResolvedQuicOptions = Required<Omit<QuicOptions, 'host'>> & Pick<QuicOptions, 'host'>

const MiB = 1024 * 1024

const positiveInt = () => z.number().int().positive()
/** QUIC needs datagrams of 1200 bytes (RFC 9000 §14); 65527 is the most a UDP/IPv6 payload can be. */
const udpPayload = () => z.number().int().min(1200).max(65527)

/**
 * Schema of {@link QuicOptions} with its defaults; unknown keys are errors.
 * Sizes, windows and times are positive integers; so are the hostile-input limits.
 */
const quicOptionsSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(0),
  host: z.string().min(1).optional(),
  socketBufferSize: positiveInt().default(4 * MiB),
  maxUdpPayloadSize: udpPayload().default(1350),
  loopbackUdpPayloadSize: udpPayload().default(65_000),
  initialMaxData: positiveInt().default(16 * MiB),
  initialMaxStreamData: positiveInt().default(1 * MiB),
  maxConnectionWindow: positiveInt().default(24 * MiB),
  maxStreamWindow: positiveInt().default(16 * MiB),
  deadPeerTimeout: positiveInt().default(60_000),
  retryTokenLifetime: positiveInt().default(10_000),
  statelessReplyRate: positiveInt().default(1000),
  maxPendingHandshakes: positiveInt().default(256),
  foreignDatagramRate: positiveInt().default(500),
  dropSummaryInterval: positiveInt().default(30_000),
  messageChannel: z.boolean().default(true),
  messageChannelIdleTimeout: positiveInt().default(10_000),
}) satisfies z.ZodType<ResolvedQuicOptions, QuicOptions>

/**
 * Validate {@link QuicOptions} and fill in defaults.
 *
 * @throws ConfigError naming each bad field, e.g. `quic.maxUdpPayloadSize: Too small: expected number to be >=1200`
 */
export function resolveOptions(options: QuicOptions | undefined): ResolvedQuicOptions {
  return parsePluginOptions('quic', quicOptionsSchema, options)
}
