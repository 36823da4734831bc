import { isIP } from 'node:net'
import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'

const serverPattern = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/

/** A STUN server as `host:port` (`[v6]:port` for IPv6). */
const serverSchema = z.string().refine(
  (value) => {
    const match = serverPattern.exec(value)
    const port = Number(match?.[2])
    return match !== null && port > 0 && port <= 65535
  },
  { message: 'must be host:port, e.g. 203.0.113.1:3478 or [2001:db8::1]:3478' },
)

const stunOptionsSchema = z.strictObject({
  /**
   * STUN servers to ask, `host:port`. Two at different IPs classify the NAT
   * (one suffices when it reports an RFC 5780 alternate address). Empty: use
   * the echo of connected peers instead (no classification).
   */
  servers: z.array(serverSchema).max(8).default([]),
  /** Which transport's socket to query from (it must offer datagrams). */
  transport: z.string().default('quic'),
  /** First wait for an answer (ms), doubled per retransmission. */
  timeout: z.number().int().min(10).max(10_000).default(500),
  /** Retransmissions per request. */
  retries: z.number().int().min(0).max(8).default(3),
  /** Ask again this often (ms) to notice a changed mapping and keep it alive; 0 disables. */
  refreshInterval: z.number().int().min(0).default(60_000),
})

/** Options of {@link stun}. */
export type StunOptions = z.input<typeof stunOptionsSchema>
/** Options after defaults. */
export type ResolvedStunOptions = z.output<typeof stunOptionsSchema>

/** Validate options; a `ConfigError` names every bad field. */
export function parseStunOptions(options: StunOptions | undefined): ResolvedStunOptions {
  return parsePluginOptions('stun', stunOptionsSchema, options)
}

/** Split `host:port` (already validated). */
export function splitServer(server: string): { host: string; port: number } {
  const match = serverPattern.exec(server) as RegExpExecArray
  const rawHost = match[1] as string
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost
  return { host, port: Number(match[2]) }
}

/** True when `host` is an IP literal (no lookup needed). */
export function isIpLiteral(host: string): boolean {
  return isIP(host) !== 0
}
