import { isPeerId } from '@crust/core'
import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'
import { topicSchema } from './protocol.js'

/** A server contact: `{ peerId, addresses }` or the text form `peerId@address[,address...]`. */
const contactSchema = z.union([
  z.strictObject({
    peerId: z.string().max(128).refine(isPeerId, { message: 'must be a peer id' }),
    addresses: z.array(z.string().min(1).max(256)).min(1).max(16),
  }),
  z
    .string()
    .max(4096)
    .transform((text, ctx) => {
      const at = text.indexOf('@')
      const peerId = text.slice(0, at)
      const addresses = text
        .slice(at + 1)
        .split(',')
        .filter((a) => a.length > 0)
      if (at < 1 || !isPeerId(peerId) || addresses.length === 0 || addresses.length > 16) {
        ctx.addIssue({ code: 'custom', message: 'must be a contact such as <peerId>@tcp://host:port' })
        return z.NEVER
      }
      return { peerId, addresses }
    }),
])

/** A rendezvous server to use, resolved. */
export type ServerContact = { readonly peerId: string; readonly addresses: readonly string[] }

const rendezvousOptionsSchema = z.strictObject({
  /** Rendezvous servers to register with and ask, as contacts (`peerId@address` or `{ peerId, addresses }`). */
  servers: z.array(contactSchema).min(1).max(16),
  /** Topics to register under and discover from the start. */
  topics: z.array(topicSchema).max(64).default([]),
  /** Connect to the peers discovered (within the node's `autoConnect` budget). */
  autoConnect: z.boolean().default(true),
  /** Lifetime of this node's record and registrations (ms); they are refreshed at half of it. */
  ttl: z.number().int().min(1_000).max(24 * 3_600_000).default(600_000),
  /** How often each topic is discovered anew (ms). */
  refreshInterval: z.number().int().min(100).max(3_600_000).default(30_000),
  /** How often the node's addresses and NAT hints are checked for a change that needs a new record (ms). */
  addressCheckInterval: z.number().int().min(100).max(600_000).default(5_000),
  /** Wait this long for a server's answer (ms). */
  requestTimeout: z.number().int().min(100).max(60_000).default(5_000),
  /** DISCOVER pages fetched per topic per round at most (records per page: `pageSize`). */
  maxPages: z.number().int().min(1).max(1_000).default(20),
  /** Records asked for per DISCOVER page. */
  pageSize: z.number().int().min(1).max(100).default(100),
  /** Records of other peers remembered (for replay detection and lookups); the least recent are forgotten. */
  maxKnownPeers: z.number().int().min(16).max(1_000_000).default(4_096),
  /** The servers' answer budget factor (see `rendezvousServer({ amplification })`): requests are padded to it. */
  amplification: z.number().int().min(1).max(64).default(8),
})

/** Options of {@link rendezvous}. */
export type RendezvousOptions = z.input<typeof rendezvousOptionsSchema>
/** Options after defaults. */
export type ResolvedRendezvousOptions = Omit<z.output<typeof rendezvousOptionsSchema>, 'servers'> & { readonly servers: readonly ServerContact[] }

/** Validate options; a `ConfigError` names every bad field. */
export function parseRendezvousOptions(options: RendezvousOptions): ResolvedRendezvousOptions {
  return parsePluginOptions('rendezvous', rendezvousOptionsSchema, options)
}

const rendezvousServerOptionsSchema = z.strictObject({
  /** Topics one peer may be registered under at once. */
  maxRegistrationsPerPeer: z.number().int().min(1).max(10_000).default(32),
  /** Peers one topic may hold. */
  maxRegistrationsPerTopic: z.number().int().min(1).max(1_000_000).default(5_000),
  /** Registrations in all. */
  maxRegistrations: z.number().int().min(1).max(10_000_000).default(50_000),
  /** Longest registration (ms); a longer TTL asked for is cut to it. Records valid for longer are refused. */
  maxTtl: z.number().int().min(1_000).max(24 * 3_600_000).default(2 * 3_600_000),
  /** Requests per second one peer may make (a token bucket with `burst`). */
  ratePerSecond: z.number().positive().max(100_000).default(20),
  /** Largest burst of one peer's requests. */
  burst: z.number().int().min(1).max(100_000).default(40),
  /** Answers are at most this many times the size of their request... */
  amplification: z.number().int().min(1).max(64).default(8),
  /** ...and never larger than this (bytes). */
  maxAnswerBytes: z.number().int().min(8_192).max(256 * 1024).default(64 * 1024),
  /** Requests handled at once, all peers together; more are refused. */
  maxConcurrent: z.number().int().min(1).max(100_000).default(256),
  /** Wait this long for a request frame (ms). */
  requestTimeout: z.number().int().min(100).max(60_000).default(5_000),
})

/** Options of {@link rendezvousServer}. */
export type RendezvousServerOptions = z.input<typeof rendezvousServerOptionsSchema>
/** Options after defaults. */
export type ResolvedRendezvousServerOptions = z.output<typeof rendezvousServerOptionsSchema>

/** Validate options; a `ConfigError` names every bad field. */
export function parseRendezvousServerOptions(options: RendezvousServerOptions | undefined): ResolvedRendezvousServerOptions {
  return parsePluginOptions('rendezvousServer', rendezvousServerOptionsSchema, options)
}
