import type { DatagramEndpoint, DatagramPeer } from '@crust/core'
import { normalizeIp } from '@crust/core'

/**
 * A punch packet: 5 magic bytes, then the 16-byte attempt id. The first
 * byte lacks the QUIC fixed bit (0x40), so the receiving QUIC socket hands it
 * to the punch service instead of the QUIC library; it is also no STUN message
 * (whose first two bits are zero).
 */
const MAGIC = Buffer.from([0x8c, 0x43, 0x52, 0x50, 0x01])
const ATTEMPT_BYTES = 16
const PACKET_SIZE = MAGIC.byteLength + ATTEMPT_BYTES

/** First gap between punches (ms); gaps double up to {@link MAX_GAP}. */
const FIRST_GAP = 10
const MAX_GAP = 500

/** Encode a punch packet for `attempt` (32 hex digits). */
export function punchPacket(attempt: string): Buffer {
  return Buffer.concat([MAGIC, Buffer.from(attempt, 'hex')])
}

/** The attempt id of a punch packet, or undefined for anything else. */
export function readPunch(data: Uint8Array): string | undefined {
  if (data.byteLength !== PACKET_SIZE) return undefined
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (!bytes.subarray(0, MAGIC.byteLength).equals(MAGIC)) return undefined
  return bytes.subarray(MAGIC.byteLength).toString('hex')
}

/**
 * Sends punch packets from the node's shared socket to a set of targets on a
 * ramped schedule (10 ms, 20 ms, 40 ms... up to every 500 ms) for a bounded
 * time: the first packets open our NAT's mapping quickly, the later ones keep
 * it open while the peer's packets and the QUIC handshake get through.
 */
export class Puncher {
  private readonly targets = new Map<string, DatagramPeer>()
  private readonly packet: Buffer
  private timer: NodeJS.Timeout | undefined
  private gap = FIRST_GAP
  private readonly until: number
  /** Punch packets sent, for logs and tests. */
  sent = 0

  constructor(
    private readonly endpoint: DatagramEndpoint,
    attempt: string,
    targets: readonly DatagramPeer[],
    durationMs: number,
  ) {
    this.packet = punchPacket(attempt)
    for (const target of targets) this.add(target)
    this.until = Date.now() + durationMs
  }

  /** Start punching (the first round goes out at once). */
  start(): this {
    this.tick()
    return this
  }

  /** Punch one more target too (e.g. where the peer's punches came from). */
  add(target: DatagramPeer): void {
    this.targets.set(`${normalizeIp(target.host)}:${target.port}`, target)
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private tick(): void {
    for (const target of this.targets.values()) {
      this.sent++
      void this.endpoint.send(this.packet, target)
    }
    if (Date.now() >= this.until) return
    this.timer = setTimeout(() => this.tick(), this.gap)
    this.timer.unref()
    this.gap = Math.min(this.gap * 2, MAX_GAP)
  }
}
