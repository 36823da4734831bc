import { isIPv4 } from 'node:net'
import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'

const pcpOptionsSchema = z.strictObject({
  /** The gateway's IPv4 address. Default: the default route's gateway (read from `/proc/net/route` on Linux). */
  gateway: z.string().refine(isIPv4, { message: 'must be an IPv4 address' }).optional(),
  /** Protocols to try, in order: PCP (RFC 6887), then NAT-PMP (RFC 6886) when the gateway says it only knows that. */
  protocols: z
    .array(z.enum(['pcp', 'nat-pmp']))
    .min(1)
    .max(2)
    .refine((list) => new Set(list).size === list.length, { message: 'must not repeat a protocol' })
    .default(['pcp', 'nat-pmp']),
  /** Sends of each request (RFC 6887 retransmission: after 250 ms, then doubling): 3 wait at most 1.75 s. */
  attempts: z.number().int().min(1).max(8).default(3),
  /** Lifetime asked for each mapping (s); renewed at half of what the gateway grants. */
  leaseSeconds: z.number().int().min(2).max(604_800).default(3600),
  /** Preferred external port for every mapping. Default: the internal port. */
  externalPort: z.number().int().min(1).max(65_535).optional(),
  /**
   * How often to ask the gateway for its epoch (ms): one small datagram that
   * reveals a rebooted gateway (mappings lost) or a new external address, re-mapped at once.
   */
  checkInterval: z.number().int().min(500).max(3_600_000).default(5000),
  /** First wait before searching again when no gateway answered (ms), doubled each time up to `maxSearchInterval`. */
  searchInterval: z.number().int().min(500).max(3_600_000).default(5000),
  /** Longest wait between searches for a gateway (ms). */
  maxSearchInterval: z.number().int().min(500).max(86_400_000).default(300_000),
})

/** Options of {@link pcp}. */
export type PcpOptions = z.input<typeof pcpOptionsSchema>
/** Options after defaults. */
export type ResolvedPcpOptions = z.output<typeof pcpOptionsSchema>

/** Validate options; a `ConfigError` names every bad field (e.g. `pcp.gateway`). */
export function parsePcpOptions(options: PcpOptions | undefined): ResolvedPcpOptions {
  return parsePluginOptions('pcp', pcpOptionsSchema, options)
}

/** The waits between sends: 250 ms doubling, one per attempt (the last one is the final wait for an answer). */
export function retransmitSchedule(attempts: number): number[] {
  return Array.from({ length: attempts }, (_, i) => 250 * 2 ** i)
}
