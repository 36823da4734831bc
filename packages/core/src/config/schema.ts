/**
 * The node configuration schema: every option, its validation and its
 * default, in one place. All times are in milliseconds.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { classifyBlacklistEntry, type BlacklistEntryKind } from '../manager/blacklist.js'
import { parseAddress } from '../transport/address.js'
import { autoConnectSchema } from '../discovery/auto-connect.js'
import { duration } from './duration.js'
import type { NodeConfigInput } from './options.js'
import type { DiscoveryFactory } from '../discovery/types.js'
import type { ServiceFactory } from '../service/types.js'
import type { LogSink } from '../logger.js'
import type { MetricsRecorder } from '../metrics/types.js'
import type { TransportFactory } from '../transport/types.js'
import { errorMessage } from '../error-text.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** Milliseconds, or a duration string such as `"500ms"` or `"5s"` (see `duration`). */
const ms = () => duration(z.number().int().min(0))
const positiveMs = () => duration(z.number().int().positive())

/** A blacklist list whose entries must be of one of `kinds`; the reason comes from the blacklist parser. */
const blacklistEntries = (kinds: readonly BlacklistEntryKind[], expected: string) =>
  z.array(
    z.string().superRefine((entry, ctx) => {
      let kind: BlacklistEntryKind
      try {
        kind = classifyBlacklistEntry(entry).kind
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: errorMessage(error) })
        return
      }
      if (!kinds.includes(kind)) ctx.addIssue({ code: 'custom', message: `must be ${expected}, got ${kind} "${entry}"` })
    }),
  )

const authSchema = z
  .strictObject({
    /** `none`: encrypted, peers not verified. `peer-id`: a dialled peer must own its id. `ca`: certificates must chain to `ca`. */
    mode: z.enum(['none', 'peer-id', 'ca']).default('peer-id'),
    /** Trusted CA certificates for `ca` mode, as PEM text or file paths. */
    ca: z.array(z.string().min(1)).default([]),
    /** This node's certificate (PEM file path) for `ca` mode. */
    certFile: z.string().min(1).optional(),
    /** This node's private key (PEM file path) for `ca` mode. */
    keyFile: z.string().min(1).optional(),
  })
  .superRefine((auth, ctx) => {
    if (auth.mode !== 'ca') return
    if (auth.ca.length === 0) ctx.addIssue({ code: 'custom', path: ['ca'], message: "auth mode 'ca' needs at least one CA certificate" })
    if (auth.certFile === undefined) ctx.addIssue({ code: 'custom', path: ['certFile'], message: "auth mode 'ca' needs certFile" })
    if (auth.keyFile === undefined) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: "auth mode 'ca' needs keyFile" })
  })

const connectionSchema = z
  .strictObject({
    /**
     * Most connections held at once, both directions. When the node is full, a
     * new connection is admitted only by closing (pruning) the least valuable
     * unprotected one; see `protectedPeers` and `pruneGracePeriod`.
     */
    maxConnections: z.number().int().positive().default(512),
    /** Most inbound connections from one address: one IPv4 address, or one IPv6 block of `ipv6PrefixLength` bits. */
    maxInboundPerIp: z.number().int().positive().default(16),
    /** IPv6 addresses sharing this many leading bits count as one address (a /64 is one customer's LAN). */
    ipv6PrefixLength: z.number().int().min(1).max(128).default(64),
    /** Most inbound connections from one subnet: an IPv4 /`ipv4SubnetPrefixLength` or an IPv6 /`ipv6SubnetPrefixLength`. */
    maxInboundPerSubnet: z.number().int().positive().default(64),
    /** Prefix length of an IPv4 subnet for `maxInboundPerSubnet`. */
    ipv4SubnetPrefixLength: z.number().int().min(1).max(32).default(24),
    /** Prefix length of an IPv6 subnet for `maxInboundPerSubnet`. */
    ipv6SubnetPrefixLength: z.number().int().min(1).max(128).default(48),
    /** Most inbound connections still in their TLS or Crust handshake at once. */
    maxPendingInbound: z.number().int().positive().default(64),
    /** A new connection is never pruned during its first this-many ms, so it has time to prove useful. */
    pruneGracePeriod: ms().default(10_000),
    /** Peer ids never pruned (bootstrap contacts and relays in use are protected too). `node.protect()` adds more at run time. */
    protectedPeers: z.array(z.string().min(1)).default([]),
    /** A peer that breaks the protocol this many times within a minute (bad streams, bad frames) is disconnected. */
    maxProtocolErrors: z.number().int().positive().default(32),
    /** Close a connection idle for this long; 0 disables. */
    idleTimeout: ms().default(30_000),
    /** Ping this often so the remote's idle timer does not fire; 0 disables. */
    keepAliveInterval: ms().default(10_000),
    /** Give up on a TLS handshake after this long. */
    handshakeTimeout: positiveMs().default(10_000),
    /** Give up dialling one address after this long. */
    dialTimeout: positiveMs().default(10_000),
    /** When a peer has several addresses, start the next dial after this long if none has succeeded (0 = all at once). */
    dialStagger: ms().default(250),
    /**
     * Transports to try first, in order, when a peer has addresses for several
     * (TCP first, reliable UDP/QUIC as fallback). Unlisted transports come last.
     */
    transportPreference: z.array(z.string().min(1)).default(['tcp', 'quic']),
    /** Start the next transport when the preferred one failed or has not connected within this long (Happy Eyeballs). */
    fallbackDelay: ms().default(250),
    /**
     * Head start of a direct dial before NAT traversal (hole punching, relay)
     * is tried alongside it, for a peer whose addresses are slow to fail (ms).
     */
    traversalDelay: ms().default(500),
    /** Most streams a remote may have open towards us at once. */
    maxInboundStreams: z.number().int().min(32).default(256),
    /** Deadline of a send or request. */
    requestTimeout: positiveMs().default(30_000),
    /**
     * Dead-path detection: a connection on which a send waits for its
     * acknowledgement or a request for its answer, and from which nothing at
     * all arrives for this long (ms), is closed as `path lost`
     * (`CloseCode.PATH_LOST`) and its calls fail with `DeliveryUnknownError`.
     * Silence is probed with pings first (after a few RTTs), so a slow
     * handler or a long transfer to a live peer does not count. Idle
     * connections are left to `idleTimeout`. 0 disables.
     */
    pathTimeout: ms().default(4_000),
    /**
     * Bytes that partly received messages on one connection may hold (never
     * less than `maxMessageSize`); a peer that would exceed it has the
     * message's stream reset (`LimitExceededError`).
     */
    maxPendingMessageBytes: z.number().int().positive().max(16 * GiB).default(64 * MiB),
    /** The same, summed over every connection of the node (never less than `maxPendingMessageBytes`). */
    maxPendingMessageBytesTotal: z.number().int().positive().max(64 * GiB).default(256 * MiB),
    /** An unfinished message must progress within each window of this length (ms), or its stream is reset; 0 disables. */
    messageTimeout: ms().default(10_000),
    /** Bytes per second an unfinished message must receive, averaged over each `messageTimeout` window. */
    minMessageRate: z.number().int().min(0).default(1024),
  })
  .superRefine((c, ctx) => {
    if (c.keepAliveInterval > 0 && c.idleTimeout > 0 && c.keepAliveInterval >= c.idleTimeout) {
      ctx.addIssue({
        code: 'custom',
        path: ['keepAliveInterval'],
        message: `must be less than idleTimeout (${c.idleTimeout}) or the remote closes idle connections between pings`,
      })
    }
  })

const contactSchema = z.strictObject({
  /** The contact's peer id. */
  peerId: z.string().min(1),
  /** Its addresses, e.g. `tcp://203.0.113.5:4001`. */
  addresses: z
    .array(z.string().refine((address) => parseAddress(address) !== undefined, { message: 'must be an address such as tcp://203.0.113.5:4001' }))
    .min(1),
})

const bootstrapSchema = z.strictObject({
  /** Hard-coded contacts: tried after LAN discovery and the cache. Never written to the cache. */
  contacts: z.array(contactSchema).default([]),
  /** Keep a cache of recently connected, directly reachable nodes on disk. */
  cache: z.boolean().default(true),
  /** Directory of the cache file; default: the platform's data directory (e.g. ~/.local/share/crust). */
  cacheDir: z.string().min(1).optional(),
  /**
   * This application's own cache (letters, digits, `.`, `_`, `-`; it names the
   * file). Default: none, so the apps of one network on a machine share its
   * cache file; processes sharing a file merge their updates under a lock.
   */
  cacheName: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit' })
    .optional(),
  /** Most nodes kept in the cache. */
  cacheSize: z.number().int().positive().max(100_000).default(200),
  /** Most (verified) addresses cached per node. */
  cacheAddressesPerPeer: z.number().int().positive().max(64).default(4),
  /** Most cached nodes sharing one IP, so one host cannot fill the cache with identities. */
  cachePeersPerIp: z.number().int().positive().default(4),
  /** Run `bootstrap()` from `start()`. */
  onStart: z.boolean().default(false),
  /** Candidates dialled at once. */
  parallelism: z.number().int().positive().max(256).default(10),
  /** Overall deadline of one bootstrap. */
  timeout: positiveMs().default(10_000),
  /** How long to wait for LAN discovery before dialling, when a discovery plugin is present. */
  discoveryWait: ms().default(1_000),
  /** Evict a cached node after this many failed bootstraps in a row. */
  maxFailures: z.number().int().positive().default(3),
  /** Re-check cached nodes not seen for this long, in the background after start. */
  revalidateAfter: ms().default(24 * 3600 * 1000),
})

const retrySchema = z
  .strictObject({
    /** Delay after the first failed attempt. */
    initialDelay: ms().default(500),
    /** Upper bound of any single delay. */
    maxDelay: ms().default(15_000),
    /** Growth factor of successive delays. */
    multiplier: z.number().min(1).max(100).default(1.5),
    /** Randomise delays (full jitter) so peers do not retry in lockstep. */
    jitter: z.boolean().default(true),
    /** Total time budget of the retries of one operation. */
    maxElapsed: ms().default(30_000),
    /** Most attempts, the first included. */
    maxAttempts: z.number().int().positive().default(10),
  })
  .superRefine((r, ctx) => {
    if (r.maxDelay < r.initialDelay) {
      ctx.addIssue({ code: 'custom', path: ['maxDelay'], message: `must be at least initialDelay (${r.initialDelay})` })
    }
  })

/**
 * Schema of the whole node configuration. Objects are strict, so a misspelt
 * option is an error rather than silently ignored. Parse with `parseConfig`
 * to get a `ConfigError` listing every problem.
 */
export const nodeConfigSchema = z.strictObject({
  /** Name of the network; nodes only connect to nodes with the same name. */
  networkName: z.string().min(1),
  /** Whether this process runs as a full `node` or as a `client`. */
  role: z.enum(['node', 'client']).default('node'),
  /** Transport plugins, e.g. `[tcp()]`. */
  transports: z
    .array(
      z.custom<TransportFactory>((value) => typeof value === 'function', {
        message: 'must be a transport plugin such as tcp()',
      }),
    )
    .default([]),
  /** Discovery plugins, e.g. `[beacon()]`. */
  discovery: z
    .array(
      z.custom<DiscoveryFactory>((value) => typeof value === 'function', {
        message: 'must be a discovery plugin such as beacon()',
      }),
    )
    .default([]),
  /** Node-wide budget of the dials discovery plugins' auto-connect may trigger. */
  autoConnect: autoConnectSchema.prefault({}),
  /** Service plugins, e.g. `[upnp(), stun({ servers }), holePunch(), relay()]`. */
  services: z
    .array(
      z.custom<ServiceFactory>((value) => typeof value === 'function', {
        message: 'must be a service plugin such as upnp() or relay()',
      }),
    )
    .default([]),
  /** Addresses to listen on; when absent, each transport's defaults. */
  listen: z
    .array(
      z.string().refine((address) => parseAddress(address) !== undefined, {
        message: 'must be an address such as tcp://0.0.0.0:4001 or quic://[::]:4001',
      }),
    )
    .optional(),
  identity: z
    .strictObject({
      /** File holding the node's private key (PEM), which determines its peer id. */
      keyFile: z.string().min(1).optional(),
    })
    .prefault({}),
  auth: authSchema.prefault({}),
  /**
   * Addresses to advertise instead of the listening ones (e.g. behind a port
   * forward). A warning is logged when peers' echo disagrees.
   */
  externalAddresses: z
    .array(
      z.string().refine((address) => parseAddress(address) !== undefined, {
        message: 'must be an address such as tcp://203.0.113.5:4001',
      }),
    )
    .optional(),
  /** Reverse-connectivity check of peers that claim the node role. */
  reachability: z
    .strictObject({
      /** `demote`: an unreachable claimed node is treated as a client; `refuse`: it is refused; `off`: trust the claim. */
      check: z.enum(['demote', 'refuse', 'off']).default('demote'),
      /** Give up dialling back after this long. */
      timeout: positiveMs().default(3_000),
      /** Dial back at most this many of the claimed addresses (only those on the IP the peer connected from). */
      maxAddresses: z.number().int().positive().max(16).default(3),
      /** Dial back one peer at most once per this many ms (a failure is remembered as long). */
      period: positiveMs().default(60_000),
      /** Most dial-backs the node starts per second, all peers together; beyond it a claim stays unverified. */
      maxPerSecond: z.number().positive().max(1000).default(5),
    })
    .prefault({}),
  bootstrap: bootstrapSchema.prefault({}),
  /** Largest message accepted or sent, in bytes. */
  maxMessageSize: z.number().int().positive().max(GiB).default(16 * MiB),
  connection: connectionSchema.prefault({}),
  /**
   * Peers to keep connected: each is connected at start and, whenever its
   * last connection closes, reconnected with backoff through every way the
   * node has (direct addresses, hole punching, relays). A peer id, or a
   * contact with addresses to start from. `node.keep()` adds more at run time.
   */
  keep: z.array(z.union([z.string().min(1), contactSchema])).default([]),
  retry: retrySchema.prefault({}),
  blacklist: z
    .strictObject({
      /** Blocked peer ids. */
      peers: blacklistEntries(['peer'], 'a peer id').default([]),
      /** Blocked IP addresses and CIDR ranges, IPv4 or IPv6. */
      ips: blacklistEntries(['ip', 'cidr'], 'an IP address or CIDR range').default([]),
    })
    .prefault({}),
  /** Least severe log level written; `CRUST_LOG` overrides it. */
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('warn'),
  /**
   * Repeated reports of one kind (refused handshakes, a peer's bad streams):
   * the first of each kind in an interval is logged and emitted, the rest are
   * counted and summarised in one line at the end of the interval (ms).
   */
  reportInterval: positiveMs().default(10_000),
  /**
   * Where log records go instead of stderr (as text lines): a function taking
   * each `LogRecord` object (`{ level, time, component, msg, peerId?, node, ...fields }`),
   * e.g. `pinoSink(pino())`.
   */
  logSink: z.custom<LogSink>((value) => typeof value === 'function', { message: 'must be a function (record) => void' }).optional(),
  /**
   * Where the node records its metrics (connections, dials, bytes, RTTs,
   * limits hit; see the README's metrics table), e.g. `prometheusMetrics()`
   * from `@crust/metrics-prometheus`. None by default: a no-op that costs nothing.
   */
  metrics: z
    .custom<MetricsRecorder>(isMetricsRecorder, { message: 'must be a MetricsRecorder (counter, gauge, histogram, observeCounter, observeGauge)' })
    .optional(),
})

function isMetricsRecorder(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const recorder = value as Record<string, unknown>
  return ['counter', 'gauge', 'histogram', 'observeCounter', 'observeGauge'].every((key) => typeof recorder[key] === 'function')
}

export type { NodeConfigInput } from './options.js'

// The documented declarations (options.ts) and the schema must describe the
// same input: this fails to compile when one gains or changes an option alone.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const documentedMatchesSchema: Same<NodeConfigInput, z.input<typeof nodeConfigSchema>> = true
void documentedMatchesSchema

/** The configuration after parsing, with every default filled in. */
export type NodeConfig = z.output<typeof nodeConfigSchema>
