import { isPeerId } from '@crust/core'
import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'
import type { RelayedChunk } from './circuit.js'

const MiB = 1024 * 1024
const ms = () => z.number().int().positive().max(2 ** 31 - 1)
const count = () => z.number().int().positive().max(1_000_000)

const serverSchema = z.strictObject({
  maxCircuits: count().default(128),
  maxCircuitsPerPeer: count().default(4),
  circuitRate: z.strictObject({ circuits: count(), intervalMs: ms() }).default({ circuits: 30, intervalMs: 60_000 }),
  maxCircuitDuration: ms().default(10 * 60_000),
  maxCircuitBytes: z.number().int().positive().default(256 * MiB),
  maxBytesPerSecond: z.number().int().nonnegative().default(4 * MiB),
  answerTimeout: ms().default(5_000),
  tap: z.custom<(chunk: RelayedChunk) => void>((value) => typeof value === 'function').optional(),
})

/** Options of {@link relayServer}. Every limit has a default fit for a volunteer public node. */
export interface RelayServerOptions {
  /** Circuits the relay carries at once, in total. Default 128. */
  maxCircuits?: number
  /** Circuits one requesting peer may have open at once. Default 4. */
  maxCircuitsPerPeer?: number
  /** Circuits one peer may request per interval (granted ones count). Default 30 per minute. */
  circuitRate?: { circuits: number; intervalMs: number }
  /** Longest life of a circuit (ms); it is then reset with reason `duration-exceeded`. Default 10 minutes. */
  maxCircuitDuration?: number
  /** Most bytes one circuit carries, both directions; then it is reset with `bytes-exceeded`. Default 256 MiB. */
  maxCircuitBytes?: number
  /** Bandwidth per requesting peer, bytes per second over all its circuits (throttled, not reset); 0 = unlimited. Default 4 MiB/s. */
  maxBytesPerSecond?: number
  /** How long the relay waits for a request, and for the target's answer (ms). Default 5 s. */
  answerTimeout?: number
  /**
   * Observe every chunk the relay forwards (metrics, debugging, tests). It
   * sees exactly what the relay sees: TLS records, never plaintext. Must not throw.
   */
  tap?: (chunk: RelayedChunk) => void
}

/** {@link RelayServerOptions} with defaults filled in. */
export type ResolvedServerOptions = z.output<typeof serverSchema>

const upgradeSchema = z.strictObject({
  delay: ms().default(2_000),
  maxAttempts: count().default(4),
  multiplier: z.number().min(1).max(100).default(2),
})

const peerId = z.string().max(128).refine(isPeerId, { message: 'must be a peer id' })
const relayEntry = z.union([
  peerId,
  z.strictObject({ peerId, addresses: z.array(z.string().min(1).max(256)).min(1).max(16) }),
])

const clientSchema = z.strictObject({
  relays: z.array(relayEntry).max(64).default([]),
  reconnect: z
    .strictObject({ initialDelay: ms().default(1_000), maxDelay: ms().default(30_000), maxAttempts: count().default(8) })
    .prefault({}),
  discover: z.boolean().default(true),
  maxRelayAttempts: count().default(3),
  connectTimeout: ms().default(10_000),
  acceptIncoming: z.boolean().default(true),
  maxRelayedConnections: count().default(32),
  upgrade: z.union([z.literal(false), upgradeSchema]).default(upgradeSchema.parse({})),
})

/** Options of {@link relay}. */
export interface RelayOptions {
  /**
   * Relays to ask first, best first. A peer id is used while the node happens
   * to be connected to it; a contact (`{ peerId, addresses }`) is also dialled
   * at start and re-dialled when lost, so peers can reach this node through
   * it. Default none.
   */
  relays?: ReadonlyArray<string | { peerId: string; addresses: readonly string[] }>
  /** Re-dialling a lost relay contact: exponential backoff, `maxAttempts` per loss. Default 1 s doubling to 30 s, 8 attempts. */
  reconnect?: { initialDelay?: number; maxDelay?: number; maxAttempts?: number }
  /** Also ask other directly connected peers (those that run `relayServer`). Default true. */
  discover?: boolean
  /** Relays asked per connection attempt, at most. Default 3. */
  maxRelayAttempts?: number
  /** Deadline of one relayed connection attempt through one relay: request, TLS and handshake (ms). Default 10 s. */
  connectTimeout?: number
  /** Accept connections that peers make to us through a relay. Default true. */
  acceptIncoming?: boolean
  /** Relayed connections this node keeps at once, both directions together. Default 32. */
  maxRelayedConnections?: number
  /**
   * After a relayed connection opens, dial the peer's claimed addresses
   * directly: first after `delay` ms, then `multiplier` times longer each time, at
   * most `maxAttempts` times. The core keeps the direct connection and retires the
   * relayed one. `false` disables. Default `{ delay: 2000, maxAttempts: 4, multiplier: 2 }`.
   */
  upgrade?: false | { delay?: number; maxAttempts?: number; multiplier?: number }
}

/** {@link RelayOptions} with defaults filled in. */
export type ResolvedRelayOptions = z.output<typeof clientSchema>

/** Validate relay server options; throws `ConfigError` naming each bad field. */
export function resolveServerOptions(options: RelayServerOptions): ResolvedServerOptions {
  return parsePluginOptions('relayServer', serverSchema, options)
}

/** Validate relay client options; throws `ConfigError` naming each bad field. */
export function resolveRelayOptions(options: RelayOptions): ResolvedRelayOptions {
  return parsePluginOptions('relay', clientSchema, options)
}
