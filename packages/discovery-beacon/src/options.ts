/**
 * Options of the beacon plugin, their validation and defaults.
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'
import { isGroupIp } from './ip.js'
import { type AddressScope, DEFAULT_ADDRESSES_PER_BEACON } from './addresses.js'
import { MAX_ADDRESSES, MAX_BEACON_SIZE } from './schema.js'
import { ALL_TARGETS, type BeaconTarget } from './targets.js'

/** Default UDP port of beacons. */
export const DEFAULT_PORT = 5484
/** Default IPv4 multicast group (administratively scoped, RFC 2365). */
export const DEFAULT_MULTICAST_GROUP = '239.255.84.84'
/** Default IPv6 multicast group (link-local scope). */
export const DEFAULT_MULTICAST_GROUP6 = 'ff02::5484'

/** Abuse limits; every map and cache the plugin keeps is bounded by one of these. */
export interface BeaconLimits {
  /** Datagrams accepted per source IP: bucket size (default 64). */
  perSourceBurst?: number
  /** Datagrams accepted per source IP: refill per second (default 32). */
  perSourceRate?: number
  /** Most source IPs tracked by the rate limiter (default 1024). */
  maxSources?: number
  /** Most signature checks per second, all sources together (default 200). */
  verifyRate?: number
  /** Most nonces remembered for replay protection (default 4096). */
  replayCacheSize?: number
  /** Most peers remembered to deduplicate `peer:discovered` (default 1024). */
  maxPeers?: number
  /** Answers to queries per second, all queriers together (default 10, bursts of 20). */
  answerRate?: number
  /** Least time between two answers to one querier (ip:port), in ms (default 1000; a burst of 2 is allowed). */
  answerInterval?: number
  /** Addresses kept from one beacon, i.e. dials it can lead to; at most one per transport (default 2). */
  addressesPerBeacon?: number
  /** New (or changed) peers accepted from one source IP: bucket size (default 8). */
  newPeersPerSourceBurst?: number
  /** New (or changed) peers accepted from one source IP: refill per second (default 1). */
  newPeersPerSourceRate?: number
}

/** Options of {@link beacon}. All times are in milliseconds. */
export interface BeaconOptions {
  /** UDP port beacons are sent to and heard on (default 5484). Every node of a LAN must use the same. */
  port?: number
  /** Ask the core to connect to every discovered peer (default false: only `peer:discovered`). */
  autoConnect?: boolean
  /** Mean time between announcements (default 5000). */
  interval?: number
  /** Random spread of the interval, as a fraction: 0.2 means ±20% (default 0.2). */
  jitter?: number
  /** Query beacons sent at start, to be answered at once (default 2, the second in case the first is lost). */
  queries?: number
  /** Time between the start queries (default 250). */
  queryInterval?: number
  /** Which destinations to send to (default all: `broadcast`, `subnet-broadcast`, `multicast`, `multicast6`). */
  targets?: readonly BeaconTarget[]
  /** Interface names to send on and listen to, e.g. `['eth0']` (default: every non-loopback interface). */
  interfaces?: readonly string[]
  /**
   * Single-host mode, for tests and several nodes on one machine: send on the
   * loopback interface only (IPv4 multicast and 127.255.255.255), advertise
   * loopback addresses, and ignore beacons from other hosts. Nothing leaves the host.
   */
  loopback?: boolean
  /** IPv4 multicast group (default 239.255.84.84). */
  multicastGroup?: string
  /** IPv6 multicast group, link-local scope (default ff02::5484). */
  multicastGroup6?: string
  /** Multicast TTL / hop limit (default 1: the local link only). */
  multicastTtl?: number
  /** Share the port with other nodes on this host (SO_REUSEADDR; default true). */
  reuseAddr?: boolean
  /** Hard size limit of a beacon in bytes, sent or received (default 1200). */
  maxSize?: number
  /** Accept beacons whose timestamp is within ± this of our clock (default 30000). */
  replayWindow?: number
  /** Emit `peer:discovered` again for an unchanged, known peer at most this often (default 60000). */
  reportInterval?: number
  /**
   * Which advertised addresses a beacon may lead to (default `host`): `host`
   * only those on the datagram's source IP; `subnet` also its /24 (IPv4) or
   * /64 (IPv6). Others are never reported or dialled.
   */
  addressScope?: AddressScope
  limits?: BeaconLimits
}

const positiveInt = () => z.number().int().positive()

const limitsSchema = z.strictObject({
  perSourceBurst: positiveInt().default(64),
  perSourceRate: z.number().positive().default(32),
  maxSources: positiveInt().default(1024),
  verifyRate: z.number().positive().default(200),
  replayCacheSize: positiveInt().default(4096),
  maxPeers: positiveInt().default(1024),
  answerRate: z.number().positive().default(10),
  answerInterval: z.number().int().min(0).default(1000),
  addressesPerBeacon: positiveInt().max(MAX_ADDRESSES).default(DEFAULT_ADDRESSES_PER_BEACON),
  newPeersPerSourceBurst: positiveInt().default(8),
  newPeersPerSourceRate: z.number().positive().default(1),
})

/** Schema of {@link BeaconOptions}; unknown keys are errors. */
export const beaconOptionsSchema = z.strictObject({
  port: z.number().int().min(1).max(65535).default(DEFAULT_PORT),
  autoConnect: z.boolean().default(false),
  interval: z.number().int().min(100).default(5000),
  jitter: z.number().min(0).max(0.9).default(0.2),
  queries: z.number().int().min(0).max(10).default(2),
  queryInterval: z.number().int().min(0).default(250),
  targets: z.array(z.enum(['broadcast', 'subnet-broadcast', 'multicast', 'multicast6'])).min(1).default([...ALL_TARGETS]),
  interfaces: z.array(z.string().min(1)).min(1).optional(),
  loopback: z.boolean().default(false),
  multicastGroup: z
    .string()
    .refine((ip) => isIP(ip) === 4 && isGroupIp(ip) && ip !== '255.255.255.255', 'must be an IPv4 multicast address (224.0.0.0/4)')
    .default(DEFAULT_MULTICAST_GROUP),
  multicastGroup6: z
    .string()
    .refine((ip) => isIP(ip) === 6 && isGroupIp(ip), 'must be an IPv6 multicast address (ff00::/8)')
    .default(DEFAULT_MULTICAST_GROUP6),
  multicastTtl: z.number().int().min(1).max(255).default(1),
  reuseAddr: z.boolean().default(true),
  maxSize: z.number().int().min(512).max(1472).default(MAX_BEACON_SIZE),
  replayWindow: z.number().int().min(1000).default(30_000),
  reportInterval: z.number().int().min(0).default(60_000),
  addressScope: z.enum(['host', 'subnet']).default('host'),
  limits: limitsSchema.prefault({}),
})

/** Options with every default filled in. */
export type ResolvedBeaconOptions = z.output<typeof beaconOptionsSchema>

/**
 * Validate options and fill in defaults.
 *
 * @throws ConfigError naming each bad field, e.g. `beacon.port: Too big: expected number to be <=65535`.
 */
export function resolveOptions(options: BeaconOptions = {}): ResolvedBeaconOptions {
  return parsePluginOptions('beacon', beaconOptionsSchema, options)
}
