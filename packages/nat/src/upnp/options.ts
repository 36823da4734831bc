import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'

const upnpOptionsSchema = z.strictObject({
  /** How long to wait for a gateway to answer the SSDP search (ms). nat-upnp's own default is 1800. */
  discoveryTimeout: z.number().int().min(50).max(60_000).default(2000),
  /** Deadline of each HTTP request to the gateway (ms): nat-upnp sets none. */
  requestTimeout: z.number().int().min(50).max(60_000).default(2000),
  /** Lease asked for each mapping (s); renewed at half of it. The gateway drops the mapping if the node dies. */
  leaseSeconds: z.number().int().min(2).max(604_800).default(3600),
  /** Mapping description shown in the router's UI. Default: `crust <short peer id>`. */
  description: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[\x20-\x7e]+$/, { message: 'must be printable ASCII' })
    .optional(),
  /** Preferred external port for every mapping (TCP and UDP ports are separate). Default: the internal port. */
  externalPort: z.number().int().min(1).max(65_535).optional(),
  /**
   * The gateway's device description URL (what SSDP would find as `LOCATION`),
   * e.g. `http://192.168.1.1:5000/rootDesc.xml`: skips the SSDP search.
   */
  gateway: z.url({ protocol: /^http$/, message: 'must be an http:// URL of the gateway description' }).optional(),
  /** Tries per gateway request that fails for a reason that may pass (timeout, garbled answer). */
  attempts: z.number().int().min(1).max(10).default(3),
  /** Wait before the second try (ms), doubled for each further one. */
  retryDelay: z.number().int().min(0).max(60_000).default(250),
  /**
   * How often to check that the gateway still holds our mappings and has the
   * same external IP (ms; two small requests): a rebooted gateway is re-mapped
   * at once, a silent one has the addresses withdrawn until it answers.
   */
  checkInterval: z.number().int().min(500).max(3_600_000).default(5000),
  /** First wait before searching again when no gateway answered (ms), doubled each time up to `maxSearchInterval`. */
  searchInterval: z.number().int().min(500).max(3_600_000).default(5000),
  /** Longest wait between searches for a gateway (ms). */
  maxSearchInterval: z.number().int().min(500).max(86_400_000).default(300_000),
})

/** Options of {@link upnp}. */
export type UpnpOptions = z.input<typeof upnpOptionsSchema>
/** Options after defaults. */
export type ResolvedUpnpOptions = z.output<typeof upnpOptionsSchema>

/** Validate options; a `ConfigError` names every bad field (e.g. `upnp.leaseSeconds`). */
export function parseUpnpOptions(options: UpnpOptions | undefined): ResolvedUpnpOptions {
  return parsePluginOptions('upnp', upnpOptionsSchema, options)
}
