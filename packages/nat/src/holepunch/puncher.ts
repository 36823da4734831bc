import type { DatagramEndpoint, DatagramPeer } from '@crust/core'
import { normalizeIp } from '@crust/core/plugin'
import type { TokenBucket } from '@crust/core/plugin'

/**
 * A punch packet: 4 magic bytes, a kind byte, then the 16-byte attempt id.
 * The first byte lacks the QUIC fixed bit (0x40), so the receiving QUIC
 * socket hands it to the punch service instead of the QUIC library; it is
 * also no STUN message (whose first two bits are zero). The kind says where
 * it was sent from: `node` (the node's QUIC socket: dial where it came from)
 * or `probe-socket` (a hard-NAT probe socket, which serves no QUIC: its
 * owner dials out from that port once reached, see `hard-nat.ts`).
 */
const MAGIC = Buffer.from([0x8c, 0x43, 0x52, 0x50])
const KINDS = { node: 0x01, 'probe-socket': 0x02 } as const
/** Where a punch packet was sent from. */
export type PunchKind = keyof typeof KINDS
const ATTEMPT_BYTES = 16
const PACKET_SIZE = MAGIC.byteLength + 1 + ATTEMPT_BYTES

/** First gap between punches (ms); gaps double up to {@link MAX_GAP}. */
const FIRST_GAP = 10
const MAX_GAP = 500

/** Encode a punch packet for `attempt` (32 hex digits). */
export function punchPacket(attempt: string, kind: PunchKind = 'node'): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([KINDS[kind]]), Buffer.from(attempt, 'hex')])
}

/** The attempt id and kind of a punch packet, or undefined for anything else. */
export function readPunchPacket(data: Uint8Array): { attempt: string; kind: PunchKind } | undefined {
  if (data.byteLength !== PACKET_SIZE) return undefined
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (!bytes.subarray(0, MAGIC.byteLength).equals(MAGIC)) return undefined
  const code = bytes[MAGIC.byteLength]
  const kind = code === KINDS.node ? 'node' : code === KINDS['probe-socket'] ? 'probe-socket' : undefined
  if (kind === undefined) return undefined
  return { attempt: bytes.subarray(MAGIC.byteLength + 1).toString('hex'), kind }
}

/** The attempt id of a punch packet (either kind), or undefined for anything else. */
export function readPunch(data: Uint8Array): string | undefined {
  return readPunchPacket(data)?.attempt
}

/** Bounds of one {@link Puncher}: a remote names where we punch, so every packet is budgeted. */
export interface PunchBudget {
  /** Punch packets this attempt may send in all. */
  readonly maxPackets: number
  /** Targets learned from the peer's punch packets (its NAT's real mapping) beyond the given ones. */
  readonly maxLearned: number
  /** The node-wide budget of punch packets, shared by every attempt. */
  readonly shared: TokenBucket
}

/**
 * Sends punch packets from the node's shared socket to a set of targets on a
 * ramped schedule (10 ms, 20 ms, 40 ms... up to every 500 ms) for a bounded
 * time: the first packets open our NAT's mapping quickly, the later ones keep
 * it open while the peer's packets and the QUIC handshake get through.
 * Packets are 21 bytes, smaller than any frame or packet that triggers them,
 * and counted against a per-attempt and the node-wide budget (see
 * {@link PunchBudget}), so a forged introduction cannot turn the node into a
 * reflector.
 */
export class Puncher {
  private readonly targets = new Map<string, DatagramPeer>()
  private readonly packet: Buffer
  private timer: NodeJS.Timeout | undefined
  private gap = FIRST_GAP
  private readonly until: number
  private learned = 0
  /** Punch packets sent, for logs and tests. */
  sent = 0
  /** Packets not sent because a budget was exhausted, for logs and tests. */
  withheld = 0

  constructor(
    private readonly endpoint: DatagramEndpoint,
    attempt: string,
    targets: readonly DatagramPeer[],
    durationMs: number,
    private readonly budget: PunchBudget,
  ) {
    this.packet = punchPacket(attempt)
    for (const target of targets) this.targets.set(keyOf(target), target)
    this.until = Date.now() + durationMs
  }

  /** Start punching (the first round goes out at once). */
  start(): this {
    this.tick()
    return this
  }

  /**
   * Punch one more target too (where the peer's punches came from). At most
   * `maxLearned` per attempt: a punch packet's source can be spoofed.
   * Returns whether the target is (now) punched.
   */
  add(target: DatagramPeer): boolean {
    const key = keyOf(target)
    if (this.targets.has(key)) return true
    if (this.learned >= this.budget.maxLearned) return false
    this.learned++
    this.targets.set(key, target)
    return true
  }

  /**
   * Punch `target` (already a target) once more now, out of schedule: its
   * punch just reached us, so ours gets through too and tells it our real
   * mapping at once instead of at the next (up to 500 ms later) round.
   */
  nudge(target: DatagramPeer): void {
    if (!this.targets.has(keyOf(target)) || this.timer === undefined) return
    if (this.sent >= this.budget.maxPackets || !this.budget.shared.take()) {
      this.withheld++
      return
    }
    this.sent++
    void this.endpoint.send(this.packet, target)
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private tick(): void {
    for (const target of this.targets.values()) {
      if (this.sent >= this.budget.maxPackets || !this.budget.shared.take()) {
        this.withheld++
        continue
      }
      this.sent++
      void this.endpoint.send(this.packet, target)
    }
    if (Date.now() >= this.until || this.sent >= this.budget.maxPackets) return
    this.timer = setTimeout(() => this.tick(), this.gap)
    this.timer.unref()
    this.gap = Math.min(this.gap * 2, MAX_GAP)
  }
}

function keyOf(target: DatagramPeer): string {
  return `${normalizeIp(target.host)}:${target.port}`
}
