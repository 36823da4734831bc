/**
 * Options of the TCP transport and their validation.
 *
 * @packageDocumentation
 */
import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'

/** Options of the {@link tcp} transport factory. */
export interface TcpOptions {
  /** Port to listen on when the node config names no `listen` addresses (0 to 65535; default 0: any free port). */
  port?: number
  /**
   * Host to listen on. Default: both `0.0.0.0` and `::` on the same port, so the
   * node is reachable over IPv4 and IPv6.
   */
  host?: string
  /** Backlog of the listening sockets (a positive integer; default 511). */
  backlog?: number
  /**
   * Control frames that may wait for a peer that does not read our replies
   * before it is disconnected with `LIMIT_REACHED` (default 4096, see `@crust/mux`;
   * 16 to 2³¹−1, the range the muxer accepts).
   */
  maxQueuedControlFrames?: number
}

/**
 * Schema of {@link TcpOptions}; unknown keys are errors. Defaults are left
 * to the transport, so the output is the options as given.
 */
export const tcpOptionsSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  backlog: z.number().int().positive().optional(),
  maxQueuedControlFrames: z.number().int().min(16).max(0x7fff_ffff).optional(),
}) satisfies z.ZodType<TcpOptions>

/**
 * Validate {@link TcpOptions}.
 *
 * @throws ConfigError naming each bad field, e.g. `tcp.port: Too big: expected number to be <=65535`
 * or `tcp.prot: Unknown option`
 */
export function parseTcpOptions(options: TcpOptions | undefined): TcpOptions {
  return parsePluginOptions('tcp', tcpOptionsSchema, options)
}
