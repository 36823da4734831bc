/**
 * Hole punching when one side's NAT maps each destination to a new port
 * (endpoint-dependent, "symmetric") and the other's does not (EIM ↔ EDM).
 * The easy (EIM) side's mapping is known; the hard side's mapping toward it
 * is not, so the easy side probes for it:
 *
 * - **Port prediction**: a NAT that hands out ports in turn (STUN saw
 *   consecutive ports) gives the next mapping the next port, so the easy side
 *   probes a short window above the latest port seen. The hard side punches
 *   from the node's QUIC socket as usual.
 * - **Birthday probing** (Tailscale's approach): the hard side opens
 *   {@link HardNatBudget.sockets} probe sockets, each sending one packet to
 *   the easy side's mapping (one new NAT mapping each); the easy side probes
 *   random ports of the hard side's public IP. With 256 mappings among 64,512
 *   ports, 1,024 probes find one with 98.4 % odds (1 - (1 - 256/64512)^1024).
 *   The probe socket reached hands its port to the QUIC transport
 *   (`localPort` dial): the QUIC connection leaves from that port, through
 *   the mapping that was found.
 *
 * Every packet is counted against a per-attempt budget and a node-wide rate.
 */
import { randomInt } from 'node:crypto'
import { type Socket, createSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import type { DatagramEndpoint, DatagramPeer } from '@crust/core'
import { type TokenBucket, normalizeIp } from '@crust/core/plugin'
import type { NatMapping } from '../status.js'
import { punchPacket, readPunchPacket } from './puncher.js'

/** Largest gap between two STUN-seen ports still read as sequential allocation. */
const MAX_STEP = 8
/** Ports a sequential NAT's next mapping is looked for at (above the latest seen). */
export const PREDICTED_PORTS = 64
/** Random probes target ports from here up: NATs allocate outside the well-known range. */
const FIRST_RANDOM_PORT = 1024
/** Pacing tick (ms) of probes and of opening probe sockets. */
const TICK_MS = 10
/** Probe sockets opened per tick: 256 in about 80 ms, never a burst of binds. */
const SOCKETS_PER_TICK = 32

/** Which side of an EIM ↔ EDM pair this node is, and what the attempt does. */
export interface HardNatPlan {
  /** `hard`: our NAT maps per destination; `easy`: the peer's does. */
  readonly role: 'hard' | 'easy'
  /** The hard side's NAT allocates sequentially: probe the predicted ports. */
  readonly predict: boolean
}

/**
 * The plan for a pair, or undefined when hard-NAT punching does not apply
 * (both endpoint-independent: ordinary punching; both endpoint-dependent:
 * relayed; unknown mappings). `hardPorts` are the hard side's STUN-seen ports.
 */
export function hardNatPlan(own: NatMapping, remote: NatMapping, hardPorts: readonly number[] | undefined): HardNatPlan | undefined {
  const role = own === 'endpoint-dependent' && remote === 'endpoint-independent' ? 'hard' : own === 'endpoint-independent' && remote === 'endpoint-dependent' ? 'easy' : undefined
  if (role === undefined) return undefined
  return { role, predict: sequentialStep(hardPorts ?? []) !== undefined }
}

/** The step between consecutive mappings when `ports` (in the order made) look sequential. */
export function sequentialStep(ports: readonly number[]): number | undefined {
  if (ports.length < 2) return undefined
  let step: number | undefined
  for (let i = 1; i < ports.length; i++) {
    const gap = (ports[i] as number) - (ports[i - 1] as number)
    if (gap < 1 || gap > MAX_STEP) return undefined
    step = Math.min(step ?? gap, gap)
  }
  // A gap of 2 is most often step 1 with another flow's mapping in between.
  return step !== undefined && step <= 2 ? 1 : step
}

/**
 * The hard side's next mapping, best guess first: {@link PREDICTED_PORTS}
 * ports after the latest one seen (`seen`: STUN's ports and where peers see
 * the hard side), in steps of the allocator's step. Empty when not sequential.
 */
export function predictPorts(stunPorts: readonly number[], seen: readonly number[]): number[] {
  const step = sequentialStep(stunPorts)
  if (step === undefined) return []
  const base = Math.max(...stunPorts, ...seen)
  const ports: number[] = []
  for (let i = 1; i <= PREDICTED_PORTS && base + i * step <= 65_535; i++) ports.push(base + i * step)
  return ports
}

/** Budgets of one hard-NAT attempt (see the README's "Hard NATs"). */
export interface HardNatBudget {
  /** Easy side: probes in all (predicted ports first, then random ones). */
  readonly probes: number
  /** Easy side: probes per second for this attempt. */
  readonly probeRate: number
  /** The node-wide probe budget, every attempt together. */
  readonly shared: TokenBucket
}

/**
 * Easy side: probe the hard side's public IP from the node's QUIC socket,
 * the predicted ports first (at once, within the node-wide burst), then
 * random ports, paced at `probeRate`, until `probes` are sent, `done()` says
 * a path is up, or {@link stop}. A probe that reaches the hard side's node
 * socket is an ordinary punch (it is dialled back); one that reaches a probe
 * socket makes the hard side dial us from there.
 */
export class PortProber {
  private readonly probed = new Set<number>()
  private readonly queue: number[]
  private timer: NodeJS.Timeout | undefined
  private readonly packet: Buffer
  /** When the last tick ran: a late tick (a busy event loop) sends what the rate allowed meanwhile. */
  private lastTick = 0
  /** Probes sent, for logs and tests. */
  sent = 0
  /** Probes not sent because the node-wide budget was spent. */
  withheld = 0

  constructor(
    private readonly endpoint: DatagramEndpoint,
    attempt: string,
    private readonly host: string,
    predicted: readonly number[],
    /** Go on with random ports after the predicted ones (birthday probing). */
    private readonly random: boolean,
    private readonly budget: HardNatBudget,
    private readonly done: () => boolean,
  ) {
    this.packet = punchPacket(attempt)
    this.queue = [...predicted]
  }

  start(): this {
    this.tick(true)
    return this
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private tick(first = false): void {
    if (this.done()) {
      this.stop()
      return
    }
    // Predicted ports all go in the first round (a handful); random ones at the attempt's rate,
    // by the time elapsed (at most 4 ticks' worth: late ticks catch up, never in a burst).
    const now = performance.now()
    const elapsed = first ? 0 : Math.min(now - this.lastTick, 4 * TICK_MS)
    this.lastTick = now
    let quota = first ? Math.max(this.queue.length, 1) : Math.max(1, Math.round((this.budget.probeRate * elapsed) / 1000))
    while (quota > 0 && this.sent < this.budget.probes) {
      const port = this.next()
      if (port === undefined) break
      if (!this.budget.shared.take()) {
        this.withheld++
        this.queue.unshift(port) // not sent: next tick
        break
      }
      this.sent++
      quota--
      void this.endpoint.send(this.packet, { host: this.host, port })
    }
    if (this.sent >= this.budget.probes || (this.queue.length === 0 && !this.random)) return
    this.timer = setTimeout(() => this.tick(), TICK_MS)
    this.timer.unref()
  }

  private next(): number | undefined {
    for (;;) {
      const queued = this.queue.shift()
      if (queued === undefined) break
      if (!this.probed.has(queued)) {
        this.probed.add(queued)
        return queued
      }
    }
    if (!this.random || this.probed.size >= 65_536 - FIRST_RANDOM_PORT) return undefined
    for (;;) {
      const port = randomInt(FIRST_RANDOM_PORT, 65_536)
      if (!this.probed.has(port)) {
        this.probed.add(port)
        return port
      }
    }
  }
}

/**
 * Hard side: `count` UDP sockets, opened {@link SOCKETS_PER_TICK} at a time,
 * each sending one `probe-socket` punch packet to the easy side's mapping
 * `target` (that packet makes the NAT mapping; the easy side's filter drops
 * it). The first socket that receives this attempt's punch from `target`
 * wins: every socket is closed and `onHit` gets the winner's local port, for
 * the QUIC connection to leave from. Closed by {@link close} in every case.
 */
export class ProbeSockets {
  private readonly sockets = new Set<Socket>()
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private readonly packet: Buffer
  private readonly target: DatagramPeer
  /** Probe sockets opened, and packets sent (one per socket). */
  opened = 0
  sent = 0

  constructor(
    private readonly attempt: string,
    target: DatagramPeer,
    private readonly count: number,
    private readonly onHit: (localPort: number) => void,
    private readonly onError: (message: string) => void,
  ) {
    this.packet = punchPacket(attempt, 'probe-socket')
    this.target = { host: normalizeIp(target.host), port: target.port }
  }

  start(): this {
    this.tick()
    return this
  }

  /** Close every probe socket (waits until the ports are free). */
  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    const closing = [...this.sockets].map((socket) => new Promise<void>((resolve) => socket.close(() => resolve())))
    this.sockets.clear()
    await Promise.all(closing)
  }

  private tick(): void {
    if (this.closed) return
    for (let i = 0; i < SOCKETS_PER_TICK && this.opened < this.count; i++) this.open()
    if (this.opened >= this.count) return
    this.timer = setTimeout(() => this.tick(), TICK_MS)
    this.timer.unref()
  }

  private open(): void {
    this.opened++
    const socket = createSocket(isIPv6(this.target.host) ? 'udp6' : 'udp4')
    socket.unref() // never what keeps a process alive
    this.sockets.add(socket)
    socket.on('error', (error) => {
      this.onError(`probe socket: ${error.message}`)
      if (this.sockets.delete(socket)) socket.close()
    })
    socket.on('message', (data, from) => {
      const punch = readPunchPacket(data)
      if (this.closed || punch?.attempt !== this.attempt) return
      if (normalizeIp(from.address) !== this.target.host || from.port !== this.target.port) return
      const { port } = socket.address()
      void this.close().then(() => this.onHit(port))
    })
    socket.bind(0, () => {
      if (this.closed) return
      this.sent++
      socket.send(this.packet, this.target.port, this.target.host)
    })
  }
}

/**
 * Who may run a birthday attempt now: at most `concurrent` on the node (each
 * holds up to `sockets` probe sockets or sends up to `probes` probes), one
 * per peer at a time, and `perPeerPerMinute` per peer. A remote asks for
 * one; these bounds decide, whatever it asks.
 */
export class BirthdaySlots {
  private readonly active = new Set<string>()

  constructor(
    private readonly concurrent: number,
    private readonly limiter: { take(key: string): boolean },
  ) {}

  /** Reserve a slot for an attempt with `peerId`: the release function, or undefined when over a bound. */
  reserve(peerId: string): (() => void) | undefined {
    if (this.active.size >= this.concurrent || this.active.has(peerId)) return undefined
    if (!this.limiter.take(`birthday ${peerId}`)) return undefined
    this.active.add(peerId)
    let released = false
    return () => {
      if (released) return
      released = true
      this.active.delete(peerId)
    }
  }

  /** Attempts running now. */
  get size(): number {
    return this.active.size
  }
}
