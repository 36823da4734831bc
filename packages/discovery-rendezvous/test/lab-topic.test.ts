/**
 * Peers beyond the LAN find each other by topic (issue 17), in network
 * namespaces: two `crust serve` nodes (the real CLI, separate processes) on
 * the public side, and 12 nodes behind endpoint-independent, endpoint-
 * dependent and UPnP routers (input policy drop, like home routers). Every
 * node is given both serve contacts (rendezvous, hole punching, relay, STUN)
 * and joins topic `t`; all 12 are started at once and each must be connected
 * with every other within 10 s of its `start()` (direct, punched or relayed,
 * as the routers allow) and answer a request over it. Then one serve node is
 * SIGKILLed and a 13th node joins through the other: it finds all 12 within
 * 10 s (its connections are measured, not asserted). Of the 12, every pair of
 * a node behind an EDM router and a UPnP-mapped node ends on the mapping,
 * not relayed: the unreachable side dials the reachable one.
 * The time from `start()` to connected, per node and per NAT pair type, is
 * printed and merged into `lab-results.json`. Needs root; skipped loudly
 * otherwise. Nodes run from the BUILT packages (npx tsc -b tsconfig.json).
 */
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mergeResults } from '../../nat/test/lab-report.js'
import {
  LabHost,
  type LabNode,
  type NatLab,
  type StartParams,
  createNatLab,
  labReady,
} from '../../../tools/netlab/src/index.js'
import { type TopicPair, type TopicNode, formatTopicLab, summarizePairs } from './lab-topic-report.js'

const runs = labReady('rendezvous by topic across NATs (packages/discovery-rendezvous)', ['turnserver', 'miniupnpd'])

const resultsFile = fileURLToPath(new URL('../../../lab-results.json', import.meta.url))
const CLI = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url))
/** The bound: every node connected with every other peer of the topic within this of its start (ms). */
const CONNECTED_WITHIN = 10_000
const TOPIC = 't'
/** How long after the pairs were recorded a relayed EDM ↔ UPnP pair may still take to move to the mapping (ms). */
const SETTLE_MS = 3_000

/** Transports every lab node runs (IPv4 only: the lab has no IPv6 routing). */
const transports: StartParams['transports'] = [
  { kind: 'tcp', options: { host: '0.0.0.0' } },
  { kind: 'quic', options: { host: '0.0.0.0' } },
]

/** A `crust serve --json` process in a lab namespace. */
class ServeNode {
  readonly lines: Array<Record<string, unknown>> = []
  private constructor(
    private readonly child: ReturnType<NatLab['lab']['spawn']>,
    readonly peerId: string,
    readonly addresses: readonly string[],
    readonly contact: string,
    readonly host: LabNode,
  ) {}

  static start(lab: NatLab, host: LabNode): Promise<ServeNode> {
    const dir = mkdtempSync(join(tmpdir(), 'crust-serve-lab-'))
    const child = lab.lab.spawn(host.ns, process.execPath, [
      CLI,
      'serve',
      '--json',
      '--network',
      'lab',
      '--listen',
      `tcp://${host.ip}:4001`,
      '--listen',
      `quic://${host.ip}:4001`,
      '--data-dir',
      dir,
      '--interval',
      '1s',
    ])
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    return new Promise((resolve, reject) => {
      let node: ServeNode | undefined
      createInterface({ input: child.stdout! }).on('line', (text) => {
        const line = JSON.parse(text) as Record<string, unknown>
        if (node) node.lines.push(line)
        else if (line.type === 'ready') {
          node = new ServeNode(child, line.peerId as string, line.addresses as string[], line.contact as string, host)
          resolve(node)
        }
      })
      child.once('exit', (code) => {
        if (!node) reject(new Error(`crust serve exited with ${code} before ready: ${stderr.trim()}`))
      })
    })
  }

  /** SIGKILL: no goodbye to anyone. */
  async kill(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGKILL')
    await exited
  }
}

interface Member {
  readonly name: string
  /** What it sits behind: EIM, EDM or UPnP; `router` tells which one (same router: the same LAN). */
  readonly nat: 'EIM' | 'EDM' | 'UPnP'
  readonly router: string
  readonly host: LabHost
}

describe.runIf(runs)('rendezvous by topic across NATs', () => {
  let lab: NatLab
  const serves: ServeNode[] = []
  const members: Member[] = []
  const nodes: TopicNode[] = []
  const pairs: TopicPair[] = []

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with npx tsc -b tsconfig.json`)
    lab = await createNatLab({
      routers: [
        { name: 'eimA', kind: 'eim', hosts: 2 },
        { name: 'eimB', kind: 'eim', hosts: 2 },
        { name: 'eimC', kind: 'eim' },
        { name: 'edmA', kind: 'edm', hosts: 2 },
        // The third host is the 13th node, started after a serve node dies.
        { name: 'edmB', kind: 'edm', hosts: 3 },
        { name: 'upnpA', kind: 'upnp' },
        { name: 'upnpB', kind: 'upnp' },
        { name: 'upnpC', kind: 'upnp' },
      ],
      outsiders: 2,
    })
    serves.push(...(await Promise.all(lab.outsiders.map((host) => ServeNode.start(lab, host)))))
  }, 60_000)

  afterAll(async () => {
    await Promise.allSettled(members.map((m) => m.host.call('stop')))
    await lab?.destroy()
    if (nodes.length === 0) return
    const summary = summarizePairs(pairs)
    mergeResults(resultsFile, { rendezvousTopic: { generatedAt: new Date().toISOString(), bound: CONNECTED_WITHIN, nodes, pairs: summary } })
    process.stdout.write(`\n${formatTopicLab(nodes, summary)}\nwritten to ${resultsFile}\n`)
  })

  /** A node behind router `router` (its `index`th host), given both serve nodes for everything, in topic `t`. Created, not started. */
  function member(router: string, index: number, nat: Member['nat']): Promise<Member> {
    const host = lab.routers[router]?.hosts[index] as LabNode
    const contacts = serves.map((s) => ({ peerId: s.peerId, addresses: [...s.addresses] }))
    const name = `${router}.${index}`
    return LabHost.create(lab.lab, host.ns, {
      config: {},
      transports,
      services: [
        // STUN from the serve nodes' responders: two servers at two IPs tell EIM from EDM.
        { kind: 'stun', options: { servers: serves.map((s) => `${s.host.ip}:3478`), timeout: 200, retries: 2 } },
        { kind: 'holePunch' },
        { kind: 'relay', options: { relays: contacts } },
        ...(nat === 'UPnP' ? [{ kind: 'upnp', options: { discoveryTimeout: 2_000 } }] : []),
        // A rediscovery every 3 s (default 30 s): a dial that failed is tried again within the bound.
        { kind: 'rendezvous', from: '@crust/discovery-rendezvous', options: { servers: contacts, topics: [TOPIC], refreshInterval: 3_000 } },
      ],
    }).then((labHost) => ({ name, nat, router, host: labHost }))
  }

  /** When `of` first had `peer` connected (ms since the epoch), from its `peer:connected` events. */
  function connectedAt(of: Member, peer: Member): number | undefined {
    const event = of.host.events.find((e) => e.event === 'peer:connected' && (e.payload as { peerId: string }).peerId === peer.host.peerId)
    return (event?.payload as { at: number } | undefined)?.at
  }

  /** When `of` first discovered `peer` through rendezvous (ms since the epoch). */
  function discoveredAt(of: Member, peer: Member): number | undefined {
    const event = of.host.events.find((e) => e.event === 'peer:discovered' && (e.payload as { peerId: string }).peerId === peer.host.peerId)
    return (event?.payload as { at: number } | undefined)?.at
  }

  async function connectedPeers(of: Member): Promise<Map<string, string>> {
    const peers = (await of.host.call('peers')) as Array<{ peerId: string; method: string }>
    return new Map(peers.map((p) => [p.peerId, p.method]))
  }

  /** Wait until each of `joining` is connected with every other member, or `bound` ms after its start. */
  async function untilMeshed(joining: readonly Member[], all: readonly Member[], bound: number): Promise<void> {
    const deadline = Math.max(...joining.map((m) => m.host.startedAt)) + bound
    for (;;) {
      const meshed = joining.every((m) => all.every((peer) => peer === m || connectedAt(m, peer) !== undefined))
      if (meshed || Date.now() > deadline) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** Record each joining node's time to all peers, and each new pair's time and method; check they answer requests. */
  async function record(joining: readonly Member[], all: readonly Member[], phase: string): Promise<void> {
    for (const m of joining) {
      const times = all.filter((peer) => peer !== m).map((peer) => connectedAt(m, peer))
      const missing = times.filter((t) => t === undefined).length
      const last = Math.max(...times.map((t) => t ?? Number.POSITIVE_INFINITY))
      nodes.push({ phase, node: m.name, nat: m.nat, peers: times.length, missing, ms: missing > 0 ? null : last - m.host.startedAt })
    }
    const seen = new Set<string>()
    for (const a of joining) {
      const methods = await connectedPeers(a)
      for (const b of all) {
        const key = [a.name, b.name].sort().join('|')
        if (a === b || seen.has(key)) continue
        seen.add(key)
        const atA = connectedAt(a, b)
        const atB = connectedAt(b, a)
        const since = Math.max(a.host.startedAt, b.host.startedAt)
        const type = a.router === b.router ? 'LAN' : [a.nat, b.nat].sort().join(' ↔ ')
        // A connection may be between a tie-break's loser and its winner: give the pair a few seconds to hold one.
        let answered = false
        for (const deadline = Date.now() + 5_000; !answered && Date.now() < deadline; ) {
          answered = await a.host.call('request', { peerId: b.host.peerId, data: 'hi' }).then(
            (answer) => answer === 'echo:hi',
            () => false,
          )
          if (!answered) await new Promise((resolve) => setTimeout(resolve, 250))
        }
        pairs.push({
          phase,
          type,
          a: a.name,
          b: b.name,
          method: methods.get(b.host.peerId) ?? 'none',
          ms: atA === undefined || atB === undefined ? null : Math.max(atA, atB) - since,
          answered,
        })
      }
    }
  }

  /**
   * The pairs of `unreachable` and `mapped` members still relayed once each had
   * {@link SETTLE_MS} to reverse them (a relayed connection that opened last is
   * reversed at once, a dial of the mapping later); `unreachable → mapped` each.
   */
  async function stillRelayed(unreachable: readonly Member[], mapped: readonly Member[]): Promise<string[]> {
    const deadline = Date.now() + SETTLE_MS
    for (;;) {
      const relayed: string[] = []
      for (const a of unreachable) {
        const methods = await connectedPeers(a)
        for (const b of mapped) if (methods.get(b.host.peerId) === 'relayed') relayed.push(`${a.name} → ${b.name}`)
      }
      if (relayed.length === 0 || Date.now() > deadline) return relayed
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }

  /** CRUST_LAB_DEBUG=1: each node's events (and logs, with CRUST_LAB_LOG) relative to its start, for diagnosing the scenario. */
  function printTimelines(of: readonly Member[]): void {
    if (process.env.CRUST_LAB_DEBUG !== '1') return
    for (const m of of) {
      const lines = m.host.events
        .filter((event) => (event.payload as { at?: number } | undefined)?.at !== undefined)
        .map((event) => `  ${((event.payload as { at: number }).at - m.host.startedAt).toString().padStart(6)} ms ${event.event} ${JSON.stringify(event.payload)}`)
      const discovered = m.host.events.filter((event) => event.event === 'peer:discovered').length
      process.stdout.write(`--- ${m.name} ${m.host.peerId.slice(0, 12)} (${discovered} discovered)\n${lines.join('\n')}\n${m.host.log}\n`)
    }
  }

  it('12 nodes behind EIM, EDM and UPnP routers all connect with each other by topic within 10 s; a 13th joins after a serve node dies', async () => {
    const layout: Array<[string, number, Member['nat']]> = [
      ['eimA', 0, 'EIM'],
      ['eimA', 1, 'EIM'],
      ['eimB', 0, 'EIM'],
      ['eimB', 1, 'EIM'],
      ['eimC', 0, 'EIM'],
      ['edmA', 0, 'EDM'],
      ['edmA', 1, 'EDM'],
      ['edmB', 0, 'EDM'],
      ['edmB', 1, 'EDM'],
      ['upnpA', 0, 'UPnP'],
      ['upnpB', 0, 'UPnP'],
      ['upnpC', 0, 'UPnP'],
    ]
    // Every process up and every node created first, then all started at once: start() to connected is then theirs alone.
    members.push(...(await Promise.all(layout.map(([router, index, nat]) => member(router, index, nat)))))
    await Promise.all(members.map((m) => m.host.begin()))
    await untilMeshed(members, members, CONNECTED_WITHIN)
    await record(members, members, '12 nodes')
    const relayedToMappings = await stillRelayed(members.filter((m) => m.nat === 'EDM'), members.filter((m) => m.nat === 'UPnP'))
    printTimelines(members)

    // One serve node dies without a word; a 13th node (behind an EDM router: it needs the relay) joins through the other.
    await serves[0]?.kill()
    const late = await member('edmB', 2, 'EDM')
    members.push(late)
    await late.host.begin()
    await untilMeshed([late], members, CONNECTED_WITHIN)
    await record([late], members, '13th, one serve node dead')
    printTimelines([late])

    // The 12: each connected with every other within 10 s of its start(), and every pair answers a request.
    const slow = nodes.filter((n) => n.phase === '12 nodes' && (n.ms === null || n.ms > CONNECTED_WITHIN))
    expect(slow, 'nodes not connected with every peer of the topic within 10 s of start()').toEqual([])
    expect(pairs.filter((p) => p.phase === '12 nodes' && !p.answered)).toEqual([])
    // The unreachable side dials the reachable one (auto-connect's tie-break on the records' reachability hints, and
    // connection reversal of a relayed connection): no EDM ↔ UPnP pair stays relayed where the mapping takes a dial.
    expect(relayedToMappings, 'EDM ↔ UPnP pairs still relayed').toEqual([])
    // The 13th joins through the surviving serve node: it finds all 12 within 10 s. Its connections are measured
    // and printed, not asserted: with one relay left, the relay's per-peer circuit bound (4) can leave an EDM
    // node short of relayed paths to every peer (see the package README).
    const found = members.filter((m) => m !== late && (discoveredAt(late, m) ?? Number.POSITIVE_INFINITY) - late.host.startedAt <= CONNECTED_WITHIN)
    expect(found.length, 'peers the 13th node discovered within 10 s').toBe(members.length - 1)
    expect(pairs.filter((p) => p.phase !== '12 nodes' && p.answered).length).toBeGreaterThan(0)
  }, 120_000)
})
