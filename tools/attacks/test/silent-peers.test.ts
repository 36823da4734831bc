/**
 * Attack: make the node probe its whole network over and over. A peer that
 * sends steady traffic and then falls silent gets a probe; an unanswered
 * probe makes its path *suspect*, and a suspect path makes the node probe
 * every other connection (a changed network kills paths together). An
 * attacker with many identities, each going silent in turn, would turn one
 * cheap silence into a ping to every honest peer of the node, again and again.
 * Defence: the node checks its other paths at most once per
 * `connection.pathTimeout`, whatever triggers it; an attacker's connection gets
 * at most one probe per silent spell; honest connections answer and stay open.
 * Real nodes over TCP and QUIC, the attackers behind loopback proxies that go
 * silent (no FIN, no reset).
 */
import type { CrustNode, MetricsRecorder } from '@crust/core'
import { contactOf, createTestNode, pathProxy, type PathProxy, sleep, waitUntil } from '@crust/core/testing'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'
import { describe, expect, it } from 'vitest'
import { TRANSPORTS, type TransportName } from './nodes.js'

const HONEST = 4
const ATTACKERS = 12
/** One attacker goes silent every this many ms. */
const STAGGER = 400
const PATH_TIMEOUT = 2_000

/** A recorder that notes when the node measured an RTT: once per answered ping (keep-alive, probe or check). */
function pingClock(): { recorder: MetricsRecorder; answeredAt: number[] } {
  const answeredAt: number[] = []
  const nothing = { inc() {}, dec() {}, observe() {} }
  return {
    recorder: {
      counter: () => nothing,
      gauge: () => nothing,
      histogram: (name) => (name === 'crust_rtt_seconds' ? { observe: () => void answeredAt.push(performance.now()) } : nothing),
      observeCounter() {},
      observeGauge() {},
    },
    answeredAt,
  }
}

/** Group answer times into checks: a check's pings are answered within a few RTTs (loopback), checks are a pathTimeout apart. */
function checksOf(answeredAt: readonly number[]): number[][] {
  const checks: number[][] = []
  for (const at of answeredAt) {
    const last = checks.at(-1)
    if (last !== undefined && at - last[0]! < PATH_TIMEOUT / 2) last.push(at)
    else checks.push([at])
  }
  return checks
}

function transportsOf(name: TransportName) {
  return [name === 'tcp' ? tcp({ host: '127.0.0.1' }) : quic({ host: '127.0.0.1' })]
}

describe.each(TRANSPORTS)('silent peers over %s', (transport) => {
  it(`${ATTACKERS} peers falling silent in turn cost the node one check of its other paths per pathTimeout, and no honest connection`, async () => {
    const clock = pingClock()
    const victim: CrustNode = await createTestNode(transportsOf(transport), {
      metrics: clock.recorder,
      connection: { pathTimeout: PATH_TIMEOUT, maxInboundPerIp: 64 },
    })
    const heard = new Map<string, number>()
    victim.handle((message) => void heard.set(message.peerId, (heard.get(message.peerId) ?? 0) + 1))
    const honest: CrustNode[] = []
    for (let i = 0; i < HONEST; i++) {
      const node = await createTestNode(transportsOf(transport))
      node.handle((message) => (message.isRequest ? message.data : undefined))
      await node.connect(contactOf(victim))
      honest.push(node)
    }
    await waitUntil(() => victim.connections.length === HONEST, 5_000, 'the honest peers connected')
    const proxies: PathProxy[] = []
    try {
      const port = Number(new URL(victim.addresses[0] ?? '').port)
      const attackers = []
      for (let i = 0; i < ATTACKERS; i++) {
        const proxy = await pathProxy(transport === 'tcp' ? 'tcp' : 'udp', port)
        proxies.push(proxy)
        const node = await createTestNode(transportsOf(transport))
        const conn = await node.connect({ peerId: victim.peerId, addresses: [`${transport}://127.0.0.1:${proxy.port}`] })
        attackers.push({ node, conn, proxy })
      }
      await waitUntil(() => victim.connections.length === HONEST + ATTACKERS, 5_000, 'the attackers connected')
      const before = clock.answeredAt.length
      const started = performance.now()
      // Each attacker in turn: steady traffic (so the node expects more), none of the node's answers or
      // probes reaching it (everything from the node is dropped), then silence both ways (QUIC would
      // otherwise keep retransmitting, and a peer heard from is not silent).
      for (const { node, conn, proxy } of attackers) {
        const turn = performance.now()
        proxy.blackhole('back')
        for (let m = 0; m < 6; m++) conn.send(Buffer.from(`m${m}`)).catch(() => {})
        await waitUntil(() => heard.get(node.peerId) === 6, 5_000, "the attacker's messages")
        proxy.blackhole('both')
        await sleep(STAGGER - (performance.now() - turn))
      }
      // Until every attacker's path is found dead.
      const attackerIds = new Set(attackers.map(({ node }) => node.peerId))
      await waitUntil(
        () => !victim.connections.some((c) => attackerIds.has(c.peerId)),
        4 * PATH_TIMEOUT + ATTACKERS * STAGGER,
        "every attacker's path found dead",
      )
      const elapsed = performance.now() - started
      const checks = checksOf(clock.answeredAt.slice(before))
      const gaps = checks.slice(1).map((check, i) => Math.round(check[0]! - checks[i]![0]!))
      console.log(
        JSON.stringify({
          attack: 'silent-peers',
          transport,
          attackers: ATTACKERS,
          honest: HONEST,
          elapsedMs: Math.round(elapsed),
          checks: checks.length,
          pingsAnswered: checks.flat().length,
          gapsMs: gaps,
        }),
      )
      // The checks did run (the honest peers were probed), but at most one per pathTimeout, not one per
      // silent attacker (without the window: a check every STAGGER ms, twelve in all).
      expect(checks.length).toBeGreaterThan(0)
      expect(checks.length).toBeLessThanOrEqual(Math.floor(elapsed / PATH_TIMEOUT) + 1)
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(PATH_TIMEOUT - 250) // the sweep's period of slack
      // Each check pings every other connection once: the honest peers and the attackers still talking.
      for (const check of checks) expect(check.length).toBeLessThanOrEqual(HONEST + ATTACKERS)
      // Honest connections were probed, answered, and kept.
      expect(victim.connections.map((c) => c.peerId).sort()).toEqual(honest.map((n) => n.peerId).sort())
      for (const node of honest) expect(Buffer.from(await victim.request(node.peerId, Buffer.from('still there?'))).toString()).toBe('still there?')
    } finally {
      for (const proxy of proxies) await proxy.close()
    }
  }, 60_000)
})
