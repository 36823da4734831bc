import { type Socket, createSocket } from 'node:dgram'
import type { DatagramEndpoint, DatagramPeer } from '@crust/core'
import { TokenBucket } from '@crust/core/plugin'
import { waitUntil } from '@crust/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BirthdaySlots,
  PREDICTED_PORTS,
  PortProber,
  ProbeSockets,
  hardNatPlan,
  predictPorts,
  sequentialStep,
} from '../src/holepunch/hard-nat.js'
import { punchPacket, readPunchPacket } from '../src/holepunch/puncher.js'
import { RateLimiter } from '../src/common/rate-limit.js'

const attempt = 'ab'.repeat(16)

/** A datagram endpoint that records what it would send. */
function recordingEndpoint(): DatagramEndpoint & { sent: DatagramPeer[] } {
  const sent: DatagramPeer[] = []
  return {
    sent,
    localPort: 1,
    open: async () => 1,
    send: async (_data, to) => void sent.push(to),
    onForeignDatagram: () => () => {},
  }
}

const sockets: Socket[] = []
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close()
})

describe('hard-NAT plans and port prediction', () => {
  it('plans only EIM ↔ EDM pairs, the side from our mapping, prediction from the hard side’s ports', () => {
    expect(hardNatPlan('endpoint-dependent', 'endpoint-independent', [40_000, 40_001])).toEqual({ role: 'hard', predict: true })
    expect(hardNatPlan('endpoint-independent', 'endpoint-dependent', [51_234, 7_003])).toEqual({ role: 'easy', predict: false })
    expect(hardNatPlan('endpoint-independent', 'endpoint-independent', [])).toBeUndefined()
    expect(hardNatPlan('endpoint-dependent', 'endpoint-dependent', [1, 2])).toBeUndefined()
    expect(hardNatPlan('unknown', 'endpoint-dependent', [1, 2])).toBeUndefined()
    expect(hardNatPlan('none', 'endpoint-dependent', [1, 2])).toBeUndefined()
  })

  it('reads consecutive ports as sequential allocation, gaps of 2 as step 1, and anything else as random', () => {
    expect(sequentialStep([40_000, 40_001])).toBe(1)
    expect(sequentialStep([40_000, 40_002])).toBe(1) // another flow's mapping in between
    expect(sequentialStep([40_000, 40_004, 40_008])).toBe(4)
    expect(sequentialStep([40_000, 40_009])).toBeUndefined()
    expect(sequentialStep([40_001, 40_000])).toBeUndefined()
    expect(sequentialStep([40_000, 40_000])).toBeUndefined()
    expect(sequentialStep([40_000])).toBeUndefined()
  })

  it('predicts the ports after the latest one seen (STUN or a peer), and none for random allocation', () => {
    const ports = predictPorts([40_000, 40_001], [40_003])
    expect(ports).toHaveLength(PREDICTED_PORTS)
    expect(ports[0]).toBe(40_004)
    expect(ports.at(-1)).toBe(40_003 + PREDICTED_PORTS)
    expect(predictPorts([40_000, 40_004], [])[1]).toBe(40_012)
    expect(predictPorts([12_345, 54_321], [40_000])).toEqual([])
    expect(Math.max(...predictPorts([65_500, 65_501], []))).toBe(65_535) // never beyond the port range
  })
})

describe('PortProber (easy side)', () => {
  it('sends the predicted ports first, then distinct random ports, at the attempt’s rate, up to its budget', async () => {
    const endpoint = recordingEndpoint()
    const shared = new TokenBucket({ perSecond: 10_000, burst: 128 })
    const predicted = [40_001, 40_002, 40_003]
    const started = performance.now()
    const prober = new PortProber(endpoint, attempt, '203.0.113.9', predicted, true, { probes: 200, probeRate: 1_000, shared }, () => false).start()
    expect(endpoint.sent.map((to) => to.port)).toEqual(predicted) // at once
    await waitUntil(() => prober.sent === 200, 5_000, 'all probes')
    const elapsed = performance.now() - started
    prober.stop()
    expect(elapsed).toBeGreaterThan(150) // 197 random probes at 1,000/s: paced, not a burst
    expect(endpoint.sent).toHaveLength(200)
    expect(new Set(endpoint.sent.map((to) => to.port)).size).toBe(200)
    for (const to of endpoint.sent) {
      expect(to.host).toBe('203.0.113.9') // only the IP it was given
      expect(to.port).toBeGreaterThanOrEqual(1024)
      expect(to.port).toBeLessThanOrEqual(65_535)
    }
  })

  it('stops at once when a path is up, sends only predicted ports without birthday, and shares the node-wide budget', async () => {
    const endpoint = recordingEndpoint()
    const shared = new TokenBucket({ perSecond: 100, burst: 10 })
    let up = false
    const a = new PortProber(endpoint, attempt, '203.0.113.9', [], true, { probes: 1_000, probeRate: 10_000, shared }, () => up).start()
    const b = new PortProber(endpoint, attempt, '203.0.113.8', [], true, { probes: 1_000, probeRate: 10_000, shared }, () => up).start()
    await new Promise((resolve) => setTimeout(resolve, 300))
    up = true
    await new Promise((resolve) => setTimeout(resolve, 50))
    const sent = endpoint.sent.length
    // Both together: the burst plus about 100 per second, whatever each attempt's own rate.
    expect(sent).toBeLessThanOrEqual(10 + 100 * 0.4)
    expect(a.withheld + b.withheld).toBeGreaterThan(0)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(endpoint.sent.length).toBe(sent) // stopped once the path was up

    const only = recordingEndpoint()
    const predictedOnly = new PortProber(only, attempt, '203.0.113.9', [40_001, 40_002], false, { probes: 1_000, probeRate: 1_000, shared: new TokenBucket({ perSecond: 1_000, burst: 100 }) }, () => false).start()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(only.sent.map((to) => to.port)).toEqual([40_001, 40_002])
    predictedOnly.stop()
  })
})

describe('ProbeSockets (hard side)', () => {
  async function easySide(): Promise<{ socket: Socket; peer: DatagramPeer; received: Array<{ port: number; kind: string }> }> {
    const socket = createSocket('udp4')
    sockets.push(socket)
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    const received: Array<{ port: number; kind: string }> = []
    socket.on('message', (data, from) => {
      const punch = readPunchPacket(data)
      if (punch !== undefined) received.push({ port: from.port, kind: punch.kind })
    })
    return { socket, peer: { host: '127.0.0.1', port: socket.address().port }, received }
  }

  it('opens its sockets paced, one probe-socket packet each; the socket reached hands over its port, every socket closed', async () => {
    const easy = await easySide()
    let hit: number | undefined
    const probes = new ProbeSockets(attempt, easy.peer, 64, (port) => (hit = port), () => {}).start()
    await waitUntil(() => easy.received.length === 64, 5_000, 'one packet per probe socket')
    expect(probes.opened).toBe(64)
    expect(easy.received.every((r) => r.kind === 'probe-socket')).toBe(true)
    // A stranger's punch, or another attempt's, wins nothing.
    const stranger = createSocket('udp4')
    sockets.push(stranger)
    const target = easy.received[10]!.port
    stranger.send(punchPacket(attempt), target, '127.0.0.1')
    easy.socket.send(punchPacket('cd'.repeat(16)), target, '127.0.0.1')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(hit).toBeUndefined()
    // The easy side's probe reaches socket 10: its port is the one handed over, once every socket is closed.
    easy.socket.send(punchPacket(attempt), target, '127.0.0.1')
    await waitUntil(() => hit !== undefined, 2_000, 'the hit')
    expect(hit).toBe(target)
    const rebind = createSocket('udp4')
    sockets.push(rebind)
    await new Promise<void>((resolve, reject) => {
      rebind.once('error', reject)
      rebind.bind(target, '0.0.0.0', resolve)
    })
  })

  it('close() before they are all open stops opening more', async () => {
    const easy = await easySide()
    const probes = new ProbeSockets(attempt, easy.peer, 256, () => {}, () => {}).start()
    await probes.close()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(probes.opened).toBeLessThanOrEqual(32) // the first tick only
  })
})

describe('BirthdaySlots', () => {
  it('bounds attempts node-wide, one per peer at a time, and per peer per minute', () => {
    const slots = new BirthdaySlots(2, new RateLimiter(2))
    const a = slots.reserve('a')
    expect(a).toBeDefined()
    expect(slots.reserve('a')).toBeUndefined() // one per peer at a time
    const b = slots.reserve('b')
    expect(b).toBeDefined()
    expect(slots.reserve('c')).toBeUndefined() // two at once, node-wide
    a?.()
    a?.() // releasing twice frees one slot only
    expect(slots.size).toBe(1)
    expect(slots.reserve('a')).toBeDefined() // second of 'a' this minute
    b?.()
    expect(slots.size).toBe(1)
    const again = slots.reserve('d')
    again?.()
    expect(slots.reserve('b')).toBeDefined()
    expect(new BirthdaySlots(0, new RateLimiter(10)).reserve('x')).toBeUndefined()
  })
})
