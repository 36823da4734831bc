import { isPeerId } from '@crust/core'
import { parsePluginOptions } from '@crust/core/plugin'
import { z } from 'zod'

const contact = z.strictObject({
  peerId: z.string().max(128).refine(isPeerId, { message: 'must be a peer id' }),
  addresses: z.array(z.string().min(1).max(256)).min(1).max(16),
})

const holePunchOptionsSchema = z.strictObject({
  /** How long one side punches and dials before giving up (ms). */
  punchTimeout: z.number().int().min(100).max(60_000).default(5_000),
  /** Shorter budget when one side's NAT maps per destination (punching rarely works then; the relay is next). */
  endpointDependentTimeout: z.number().int().min(100).max(60_000).default(1_500),
  /** Budget when the peer is behind our own NAT (same public address): only the LAN or the router's hairpinning can work, and answer fast. */
  sameNatTimeout: z.number().int().min(100).max(60_000).default(2_000),
  /** Wait this long for a rendezvous to answer (ms). */
  rendezvousTimeout: z.number().int().min(100).max(60_000).default(4_000),
  /** Most rendezvous peers to ask in turn; also how many rendezvous in use are kept connected. */
  maxRendezvous: z.number().int().min(1).max(32).default(4),
  /** Rendezvous peers to keep connected from the start (and ask first), as `{ peerId, addresses }`. */
  rendezvousPeers: z.array(contact).max(32).default([]),
  /** Serve as a rendezvous for connected peers. */
  rendezvous: z.boolean().default(true),
  /** Introductions or offers per peer per minute (rendezvous and target side). */
  ratePerMinute: z.number().int().min(1).max(10_000).default(30),
  /** Punching attempts at once, as target. */
  maxConcurrent: z.number().int().min(1).max(1_000).default(16),
  /** Candidates punched and dialled per attempt, the rendezvous' observation first (the rest are ignored). */
  maxPunchTargets: z.number().int().min(1).max(8).default(4),
  /** Punch packets one attempt may send in all. */
  maxPunchPackets: z.number().int().min(1).max(10_000).default(40),
  /** Targets learned from the peer's punch packets, per attempt. */
  maxLearnedTargets: z.number().int().min(0).max(8).default(2),
  /** Punch packets per second, the whole node (all attempts together). */
  punchRate: z.number().positive().max(100_000).default(50),
  /** Largest burst of punch packets, the whole node. */
  punchBurst: z.number().int().min(1).max(100_000).default(100),
  /**
   * Hard NATs (EIM ↔ EDM): birthday probing upgrades a relayed connection
   * within this time (ms); port prediction uses `endpointDependentTimeout`.
   */
  hardNatTimeout: z.number().int().min(100).max(60_000).default(5_000),
  /** Hard side of a birthday attempt: probe sockets opened (one packet each). 0: never the hard side. */
  birthdaySockets: z.number().int().min(0).max(1_024).default(256),
  /** Easy side of a birthday attempt: probes sent in all (predicted ports included). 0: never the easy side. */
  birthdayProbes: z.number().int().min(0).max(10_000).default(1_536),
  /** Easy side: probes per second of one attempt. */
  birthdayProbeRate: z.number().int().min(1).max(10_000).default(1_000),
  /** Probes per second, the whole node (every attempt, predicted ports included). */
  hardNatRate: z.number().int().min(1).max(100_000).default(2_000),
  /** Birthday attempts at once, the whole node (either side). */
  maxBirthdayAttempts: z.number().int().min(0).max(64).default(2),
  /** Birthday attempts per peer per minute (either side). */
  birthdayPerMinute: z.number().int().min(1).max(1_000).default(4),
  /** Accept loopback candidates (single-machine tests only). */
  allowLoopback: z.boolean().default(false),
})

/** Options of {@link holePunch}. */
export type HolePunchOptions = z.input<typeof holePunchOptionsSchema>
/** Options after defaults. */
export type ResolvedHolePunchOptions = z.output<typeof holePunchOptionsSchema>

/** Validate options; a `ConfigError` names every bad field. */
export function parseHolePunchOptions(options: HolePunchOptions | undefined): ResolvedHolePunchOptions {
  return parsePluginOptions('holePunch', holePunchOptionsSchema, options)
}
