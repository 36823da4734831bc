/**
 * Every option of `createNode(config)`, written out with its meaning and
 * default for the API reference. `nodeConfigSchema` (zod) validates them; a
 * compile-time check in `schema.ts` keeps these declarations and the schema
 * the same, so neither can gain or change an option alone.
 *
 * @packageDocumentation
 */
import type { DiscoveryFactory } from '../discovery/types.js'
import type { LogSink } from '../logger.js'
import type { MetricsRecorder } from '../metrics/types.js'
import type { ServiceFactory } from '../service/types.js'
import type { TransportFactory } from '../transport/types.js'

/**
 * A length of time: milliseconds as a number (`5000`), or a string with a
 * unit as the CLI's flags take it: `"500ms"`, `"5s"`, `"1.5s"`, `"2m"`, `"1h"`.
 */
export type Duration = number | `${number}ms` | `${number}s` | `${number}m` | `${number}h`

/** A peer to reach, with at least one address. */
export interface ContactConfig {
  /** The contact's peer id. */
  peerId: string
  /** Its addresses, e.g. `tcp://203.0.113.5:4001` (at least one). */
  addresses: string[]
}

/** `identity`: who this node is. */
export interface IdentityConfig {
  /**
   * File holding the node's private key (PEM), which determines its peer id;
   * created on first start when missing.
   * @defaultValue `undefined`: a new identity each start
   */
  keyFile?: string | undefined
}

/** `auth`: how peers are authenticated (TLS 1.3 always encrypts). */
export interface AuthConfig {
  /**
   * `none`: encrypted, peers not verified. `peer-id`: a dialled peer must own
   * its id. `ca`: certificates must chain to `ca`.
   * @defaultValue `'peer-id'`
   */
  mode?: 'none' | 'peer-id' | 'ca' | undefined
  /**
   * Trusted CA certificates for `ca` mode, as PEM text or file paths (`ca` mode needs one at least).
   * @defaultValue `[]`
   */
  ca?: string[] | undefined
  /** This node's certificate (PEM file path), needed in `ca` mode. */
  certFile?: string | undefined
  /** This node's private key (PEM file path), needed in `ca` mode. */
  keyFile?: string | undefined
}

/** `reachability`: the reverse-connectivity check of peers that claim the node role. */
export interface ReachabilityConfig {
  /**
   * `demote`: an unreachable claimed node is treated as a client; `refuse`:
   * it is refused; `off`: trust the claim.
   * @defaultValue `'demote'`
   */
  check?: 'demote' | 'refuse' | 'off' | undefined
  /**
   * Give up dialling back after this long.
   * @defaultValue `3_000` (3 s)
   */
  timeout?: Duration | undefined
  /**
   * Dial back at most this many of the claimed addresses (only those on the IP the peer connected from), 1-16.
   * @defaultValue `3`
   */
  maxAddresses?: number | undefined
  /**
   * Dial back one peer at most once per this long (a failure is remembered as long).
   * @defaultValue `60_000` (1 min)
   */
  period?: Duration | undefined
  /**
   * Most dial-backs the node starts per second, all peers together (at most
   * 1000); beyond it a claim stays unverified.
   * @defaultValue `5`
   */
  maxPerSecond?: number | undefined
}

/** `autoConnect`: the node-wide budget of the dials discovery plugins' auto-connect may trigger. */
export interface AutoConnectConfig {
  /**
   * Dials per second discovery may trigger, all plugins and peers together (one per address tried).
   * @defaultValue `10`
   */
  rate?: number | undefined
  /**
   * Largest burst of such dials.
   * @defaultValue `20`
   */
  burst?: number | undefined
  /**
   * Addresses of one discovered peer dialled at most (the first ones), 1-32.
   * @defaultValue `2`
   */
  maxAddresses?: number | undefined
  /**
   * Auto-connects in progress at once; more are skipped until one ends.
   * @defaultValue `16`
   */
  maxPending?: number | undefined
  /**
   * Of two nodes that discover each other, the one with the higher peer id
   * waits this long for the other to connect before dialling itself, so both
   * do not dial at once (a simultaneous open). 0 dials at once; at most 1 min.
   * @defaultValue `1_000` (1 s)
   */
  yieldDelay?: Duration | undefined
}

/** `bootstrap`: how the node joins the network (see `node.bootstrap()`). */
export interface BootstrapConfig {
  /**
   * Hard-coded contacts: tried after LAN discovery and the cache. Never written to the cache.
   * @defaultValue `[]`
   */
  contacts?: ContactConfig[] | undefined
  /**
   * Keep a cache of recently connected, directly reachable nodes on disk.
   * @defaultValue `true`
   */
  cache?: boolean | undefined
  /**
   * Directory of the cache file.
   * @defaultValue the platform's data directory, e.g. `~/.local/share/crust/bootstrap`
   */
  cacheDir?: string | undefined
  /**
   * This application's own cache (1-64 letters, digits, `.`, `_`, `-`; it
   * names the file). Without it the apps of one network on a machine share
   * their network's cache file; processes sharing a file merge their updates
   * under a lock.
   * @defaultValue `undefined`: the network's shared cache
   */
  cacheName?: string | undefined
  /**
   * Most nodes kept in the cache (at most 100,000).
   * @defaultValue `200`
   */
  cacheSize?: number | undefined
  /**
   * Most (verified) addresses cached per node, 1-64.
   * @defaultValue `4`
   */
  cacheAddressesPerPeer?: number | undefined
  /**
   * Most cached nodes sharing one IP, so one host cannot fill the cache with identities.
   * @defaultValue `4`
   */
  cachePeersPerIp?: number | undefined
  /**
   * Run `bootstrap()` from `start()`.
   * @defaultValue `false`
   */
  onStart?: boolean | undefined
  /**
   * Candidates dialled at once, 1-256.
   * @defaultValue `10`
   */
  parallelism?: number | undefined
  /**
   * Overall deadline of one bootstrap.
   * @defaultValue `10_000` (10 s)
   */
  timeout?: Duration | undefined
  /**
   * How long to wait for LAN discovery before dialling, when a discovery plugin is present.
   * @defaultValue `1_000` (1 s)
   */
  discoveryWait?: Duration | undefined
  /**
   * Evict a cached node after this many failed bootstraps in a row.
   * @defaultValue `3`
   */
  maxFailures?: number | undefined
  /**
   * Re-check cached nodes not seen for this long, in the background after start.
   * @defaultValue `86_400_000` (24 h)
   */
  revalidateAfter?: Duration | undefined
}

/** `connection`: limits and timing of connections. */
export interface ConnectionConfig {
  /**
   * Most connections held at once, both directions. When the node is full, a
   * new connection is admitted only by closing (pruning) the least valuable
   * unprotected one; see `protectedPeers` and `pruneGracePeriod`.
   * @defaultValue `512`
   */
  maxConnections?: number | undefined
  /**
   * Most inbound connections from one address: one IPv4 address, or one IPv6 block of `ipv6PrefixLength` bits.
   * @defaultValue `16`
   */
  maxInboundPerIp?: number | undefined
  /**
   * IPv6 addresses sharing this many leading bits count as one address (a /64 is one customer's LAN), 1-128.
   * @defaultValue `64`
   */
  ipv6PrefixLength?: number | undefined
  /**
   * Most inbound connections from one subnet: an IPv4 /`ipv4SubnetPrefixLength` or an IPv6 /`ipv6SubnetPrefixLength`.
   * @defaultValue `64`
   */
  maxInboundPerSubnet?: number | undefined
  /**
   * Prefix length of an IPv4 subnet for `maxInboundPerSubnet`, 1-32.
   * @defaultValue `24`
   */
  ipv4SubnetPrefixLength?: number | undefined
  /**
   * Prefix length of an IPv6 subnet for `maxInboundPerSubnet`, 1-128.
   * @defaultValue `48`
   */
  ipv6SubnetPrefixLength?: number | undefined
  /**
   * Most inbound connections still in their TLS or Crust handshake at once.
   * @defaultValue `64`
   */
  maxPendingInbound?: number | undefined
  /**
   * A new connection is never pruned during its first this-long, so it has time to prove useful.
   * @defaultValue `10_000` (10 s)
   */
  pruneGracePeriod?: Duration | undefined
  /**
   * Peer ids never pruned (bootstrap contacts and relays in use are protected
   * too). `node.protect()` adds more at run time.
   * @defaultValue `[]`
   */
  protectedPeers?: string[] | undefined
  /**
   * A peer that breaks the protocol this many times within a minute (bad streams, bad frames) is disconnected.
   * @defaultValue `32`
   */
  maxProtocolErrors?: number | undefined
  /**
   * Close a connection idle for this long; 0 disables.
   * @defaultValue `30_000` (30 s)
   */
  idleTimeout?: Duration | undefined
  /**
   * Ping this often so the remote's idle timer does not fire; 0 disables. Must be less than `idleTimeout`.
   * @defaultValue `10_000` (10 s)
   */
  keepAliveInterval?: Duration | undefined
  /**
   * Give up on a TLS handshake after this long.
   * @defaultValue `10_000` (10 s)
   */
  handshakeTimeout?: Duration | undefined
  /**
   * Give up dialling one address after this long.
   * @defaultValue `10_000` (10 s)
   */
  dialTimeout?: Duration | undefined
  /**
   * When a peer has several addresses, start the next dial after this long if none has succeeded (0 = all at once).
   * @defaultValue `250` (ms)
   */
  dialStagger?: Duration | undefined
  /**
   * Transports to try first, in order, when a peer has addresses for several
   * (TCP first, reliable UDP/QUIC as fallback). Unlisted transports come last.
   * @defaultValue `['tcp', 'quic']`
   */
  transportPreference?: string[] | undefined
  /**
   * Start the next transport when the preferred one failed or has not connected within this long (Happy Eyeballs).
   * @defaultValue `250` (ms)
   */
  fallbackDelay?: Duration | undefined
  /**
   * Head start of a direct dial before NAT traversal (hole punching, relay)
   * is tried alongside it, for a peer whose addresses are slow to fail.
   * @defaultValue `500` (ms)
   */
  traversalDelay?: Duration | undefined
  /**
   * Most streams a remote may have open towards us at once (at least 32).
   * @defaultValue `256`
   */
  maxInboundStreams?: number | undefined
  /**
   * Deadline of a send or request.
   * @defaultValue `30_000` (30 s)
   */
  requestTimeout?: Duration | undefined
  /**
   * Dead-path detection: a connection on which a send waits for its
   * acknowledgement or a request for its answer, and from which nothing at
   * all arrives for this long, is closed as `path lost`
   * (`CloseCode.PATH_LOST`) and its calls fail with `DeliveryUnknownError`.
   * Silence is probed with pings first (after a few RTTs), so a slow handler
   * or a long transfer to a live peer does not count. Idle connections are
   * left to `idleTimeout`. 0 disables.
   * @defaultValue `4_000` (4 s)
   */
  pathTimeout?: Duration | undefined
  /**
   * Bytes that partly received messages on one connection may hold (never
   * less than `maxMessageSize`; at most 16 GiB); a peer that would exceed it
   * has the message's stream reset (`LimitExceededError`).
   * @defaultValue `67_108_864` (64 MiB)
   */
  maxPendingMessageBytes?: number | undefined
  /**
   * The same, summed over every connection of the node (never less than `maxPendingMessageBytes`; at most 64 GiB).
   * @defaultValue `268_435_456` (256 MiB)
   */
  maxPendingMessageBytesTotal?: number | undefined
  /**
   * An unfinished message must progress within each window of this length, or its stream is reset; 0 disables.
   * @defaultValue `10_000` (10 s)
   */
  messageTimeout?: Duration | undefined
  /**
   * Bytes per second an unfinished message must receive, averaged over each `messageTimeout` window.
   * @defaultValue `1024`
   */
  minMessageRate?: number | undefined
}

/** `retry`: backoff of `connect()` retries after failures that can change. */
export interface RetryConfig {
  /**
   * Delay after the first failed attempt.
   * @defaultValue `500` (ms)
   */
  initialDelay?: Duration | undefined
  /**
   * Upper bound of any single delay (at least `initialDelay`).
   * @defaultValue `15_000` (15 s)
   */
  maxDelay?: Duration | undefined
  /**
   * Growth factor of successive delays, 1-100.
   * @defaultValue `1.5`
   */
  multiplier?: number | undefined
  /**
   * Randomise delays (full jitter) so peers do not retry in lockstep.
   * @defaultValue `true`
   */
  jitter?: boolean | undefined
  /**
   * Total time budget of the retries of one operation.
   * @defaultValue `30_000` (30 s)
   */
  maxElapsed?: Duration | undefined
  /**
   * Most attempts, the first included.
   * @defaultValue `10`
   */
  maxAttempts?: number | undefined
}

/** `blacklist`: peers and IPs refused in both directions (`node.blacklist` changes it at run time). */
export interface BlacklistConfig {
  /**
   * Blocked peer ids.
   * @defaultValue `[]`
   */
  peers?: string[] | undefined
  /**
   * Blocked IP addresses and CIDR ranges, IPv4 or IPv6.
   * @defaultValue `[]`
   */
  ips?: string[] | undefined
}

/**
 * The configuration of `createNode(config)` as users write it: only
 * `networkName` is required; every other option has the default shown.
 * Durations take milliseconds or strings such as `"5s"` ({@link Duration}).
 * Unknown options are errors (`ConfigError` names the field).
 */
export interface NodeConfigInput {
  /** Name of the network; nodes only connect to nodes with the same name. */
  networkName: string
  /**
   * Whether this process runs as a full `node` (listens, may relay and be
   * dialled) or as a `client` (dials only).
   * @defaultValue `'node'`
   */
  role?: 'node' | 'client' | undefined
  /**
   * Transport plugins, e.g. `[tcp(), quic()]`.
   * @defaultValue `[]`
   */
  transports?: TransportFactory[] | undefined
  /**
   * Discovery plugins, e.g. `[beacon()]`.
   * @defaultValue `[]`
   */
  discovery?: DiscoveryFactory[] | undefined
  /** Node-wide budget of the dials discovery plugins' auto-connect may trigger (defaults inside). */
  autoConnect?: AutoConnectConfig | undefined
  /**
   * Service plugins, e.g. `[upnp(), stun({ servers }), holePunch(), relay()]`.
   * @defaultValue `[]`
   */
  services?: ServiceFactory[] | undefined
  /**
   * Addresses to listen on, e.g. `tcp://0.0.0.0:4001`; each must be served by
   * a configured transport (`start()` rejects with a `ConfigError` otherwise).
   * @defaultValue `undefined`: each transport's own defaults
   */
  listen?: string[] | undefined
  /** Who this node is (defaults inside). */
  identity?: IdentityConfig | undefined
  /** How peers are authenticated (defaults inside). */
  auth?: AuthConfig | undefined
  /**
   * Addresses to advertise instead of the listening ones (e.g. behind a port
   * forward). A warning is logged when peers' echo disagrees.
   * @defaultValue `undefined`: the listening addresses
   */
  externalAddresses?: string[] | undefined
  /** Reverse-connectivity check of peers that claim the node role (defaults inside). */
  reachability?: ReachabilityConfig | undefined
  /** Joining the network: contacts and the on-disk cache (defaults inside). */
  bootstrap?: BootstrapConfig | undefined
  /**
   * Largest message accepted or sent, in bytes (at most 1 GiB).
   * @defaultValue `16_777_216` (16 MiB)
   */
  maxMessageSize?: number | undefined
  /** Limits and timing of connections (defaults inside). */
  connection?: ConnectionConfig | undefined
  /**
   * Peers to keep connected: each is connected at start and, whenever its
   * last connection closes, reconnected with backoff through every way the
   * node has (direct addresses, hole punching, relays). A peer id, or a
   * contact with addresses to start from. `node.keep()` adds more at run time.
   * @defaultValue `[]`
   */
  keep?: Array<string | ContactConfig> | undefined
  /** Backoff of retried dials (defaults inside). */
  retry?: RetryConfig | undefined
  /** Peers and IPs refused (defaults inside). */
  blacklist?: BlacklistConfig | undefined
  /**
   * Least severe log level written; `CRUST_LOG` overrides it.
   * @defaultValue `'warn'`
   */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent' | undefined
  /**
   * Repeated reports of one kind (refused handshakes, a peer's bad streams):
   * the first of each kind in an interval is logged and emitted, the rest are
   * counted and summarised in one line at the end of the interval.
   * @defaultValue `10_000` (10 s)
   */
  reportInterval?: Duration | undefined
  /**
   * Where log lines go instead of stderr, e.g. `(record) => myLogger[record.level](record.message)`.
   * @defaultValue `undefined`: stderr
   */
  logSink?: LogSink | undefined
  /**
   * Where the node records its metrics (connections, dials, bytes, RTTs,
   * limits hit; see the README's metrics table), e.g. `prometheusMetrics()`
   * from `@crust/metrics-prometheus`, or `openTelemetryMetrics()` from
   * `@crust/metrics-opentelemetry`.
   * @defaultValue `undefined`: a no-op recorder that costs nothing
   */
  metrics?: MetricsRecorder | undefined
}
