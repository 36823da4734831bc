/**
 * More router topologies for the NAT lab (issue 18), each a row of the
 * `pnpm test:lab` matrix: two hosts behind the same router that connect by
 * peer id only (LAN reachable; a guest network whose router hairpins; a guest
 * network whose router does not), a home router behind a carrier-grade NAT
 * (100.64.0.0/10) paired with an EIM host, with a public node and with a
 * second home behind the same carrier NAT, and a router that forgets idle
 * UDP flows after 20 s.
 *
 * Every attempt starts fresh nodes (no address learned from an earlier one),
 * joins the public rendezvous/relay, connects by peer id with no addresses,
 * and exchanges a request both ways. Each row runs `CRUST_LAB_ATTEMPTS`
 * attempts (default 2 to keep CI short; the README figures use 20) and reports connected %,
 * time to the first answered request and the methods seen; the figures go to
 * the `topologies` section of `lab-results.json` and a table. Needs root;
 * skipped loudly otherwise. Nodes run from the BUILT packages.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LabHost,
  type LabNode,
  type NatLab,
  type StartParams,
  createNatLab,
  labReady,
  udpTimeouts,
} from '../../../tools/netlab/src/index.js'
import { mergeResults } from './lab-report.js'

const runs = labReady('NAT lab topologies (packages/nat)', ['turnserver'])

const resultsFile = fileURLToPath(new URL('../../../lab-results.json', import.meta.url))
const ATTEMPTS = Math.max(1, Number(process.env.CRUST_LAB_ATTEMPTS ?? 2))
/** The 20 s router's timeout, and how long the pair stays silent (past it). */
const UDP_TIMEOUT_S = 20
const IDLE_MS = 25_000

const transports: StartParams['transports'] = [
  { kind: 'tcp', options: { host: '0.0.0.0' } },
  { kind: 'quic', options: { host: '0.0.0.0' } },
]
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** One attempt: how it connected (dialer's and target's method) and how long until the first answered request. */
interface Attempt {
  readonly methods: readonly string[]
  readonly transport: string
  readonly ms: number
  readonly error?: string
}

/** A row of the topology matrix: several attempts of one pair type. */
interface TopologyRow {
  readonly a: string
  readonly b: string
  readonly expected: string
  readonly attempts: readonly Attempt[]
  readonly notes?: string
}

function summarizeRow(row: TopologyRow): { connected: number; medianMs: number; maxMs: number; methods: string } {
  const ok = row.attempts.filter((attempt) => attempt.error === undefined)
  const times = ok.map((attempt) => attempt.ms).sort((x, y) => x - y)
  const counts = new Map<string, number>()
  for (const attempt of row.attempts) {
    const method = attempt.error === undefined ? (attempt.methods[0] ?? 'none') : 'failed'
    counts.set(method, (counts.get(method) ?? 0) + 1)
  }
  return {
    connected: Math.round((ok.length / row.attempts.length) * 1000) / 10,
    medianMs: times[Math.floor((times.length - 1) / 2)] ?? 0,
    maxMs: times.at(-1) ?? 0,
    methods: [...counts].map(([method, count]) => `${method} ${count}/${row.attempts.length}`).join(', '),
  }
}

function formatTopologies(rows: readonly TopologyRow[]): string {
  const header = ['A behind', 'B behind', 'expected', 'connected', 'first message (median / max)', 'method (dialer)', 'notes']
  const body = rows.map((row) => {
    const s = summarizeRow(row)
    return [row.a, row.b, row.expected, `${s.connected} % of ${row.attempts.length}`, `${s.medianMs} / ${s.maxMs} ms`, s.methods, row.notes ?? '']
  })
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => (cells[column] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')
  return ['Topologies (issue 18)', line(header), widths.map((width) => '-'.repeat(width)).join('-|-'), ...body.map(line)].join('\n')
}

describe.runIf(runs)('NAT lab topologies (issue 18)', () => {
  let lab: NatLab
  let rendezvous: LabHost
  const rows: TopologyRow[] = []

  beforeAll(async () => {
    lab = await createNatLab({
      outsiders: 1,
      routers: [
        { name: 'home', kind: 'eim', hosts: 2 },
        { name: 'guest', kind: 'eim', hosts: 2, isolated: true, hairpin: true },
        { name: 'guest-nohairpin', kind: 'eim', hosts: 2, isolated: true },
        { name: 'cgn', kind: 'cgn', hosts: 0, hairpin: true },
        { name: 'double', kind: 'eim', behind: 'cgn' },
        { name: 'double2', kind: 'eim', behind: 'cgn' },
        { name: 'eim', kind: 'eim' },
        { name: 'short', kind: 'eim', udpTimeout: UDP_TIMEOUT_S },
      ],
    })
    rendezvous = await LabHost.start(lab.lab, lab.publicHost.ns, {
      config: { listen: ['tcp://0.0.0.0:4001', 'quic://0.0.0.0:4001'] },
      transports,
      services: [{ kind: 'holePunch' }, { kind: 'relayServer' }],
    })
  }, 60_000)

  afterAll(async () => {
    await rendezvous?.call('stop').catch(() => {})
    await lab?.destroy()
    if (rows.length === 0) return
    const summary = rows.map((row) => ({ ...row, ...summarizeRow(row) }))
    mergeResults(resultsFile, { topologies: { generatedAt: new Date().toISOString(), attemptsPerRow: ATTEMPTS, rows: summary } })
    process.stdout.write(`\n${formatTopologies(rows)}\nwritten to ${resultsFile}\n`)
  })

  const host = (router: string, index = 0): LabNode => lab.routers[router]?.hosts[index] as LabNode

  /** A node: STUN against coturn's two addresses (`none` on a public host), hole punching, relay client. */
  function startNode(node: LabNode): Promise<LabHost> {
    const { ip, secondIp } = lab.publicHost
    return LabHost.start(lab.lab, node.ns, {
      config: {},
      transports,
      services: [
        { kind: 'stun', options: { servers: [`${ip}:3478`, `${secondIp}:3478`], timeout: 200 } },
        { kind: 'holePunch' },
        { kind: 'relay' },
      ],
    })
  }

  /** Join the rendezvous and wait until STUN has classified the NAT. */
  async function join(node: LabHost): Promise<void> {
    await node.call('connect', { peer: { peerId: rendezvous.peerId, addresses: rendezvous.addresses } })
    const deadline = Date.now() + 10_000
    while (((await node.call('nat')) as { mapping: string }).mapping === 'unknown') {
      if (Date.now() > deadline) throw new Error('STUN did not classify the NAT within 10 s')
      await sleep(100)
    }
  }

  /**
   * Fresh nodes on `a` and `b`, both joined to the rendezvous; `a` connects
   * to `b` by peer id alone and a request goes each way. `during` runs on the
   * connected pair before the nodes stop.
   */
  async function attempt(a: LabNode, b: LabNode, during?: (dialer: LabHost, target: LabHost, id: string) => Promise<void>): Promise<Attempt> {
    const [dialer, target] = await Promise.all([startNode(a), startNode(b)])
    try {
      await Promise.all([join(dialer), join(target)])
      const started = performance.now()
      try {
        const connected = (await dialer.call('connect', { peer: { peerId: target.peerId, addresses: [] } })) as {
          transport: string
          method: string
          id: string
        }
        expect(await dialer.call('request', { peerId: target.peerId, data: 'hello' })).toBe('echo:hello')
        const ms = Math.round(performance.now() - started)
        expect(await target.call('request', { peerId: dialer.peerId, data: 'back' })).toBe('echo:back')
        const far = (await target.call('connection', { peerId: dialer.peerId })) as { method: string } | null
        await during?.(dialer, target, connected.id)
        return { methods: [connected.method, far?.method ?? 'none'], transport: connected.transport, ms }
      } catch (error) {
        return { methods: [], transport: '-', ms: Math.round(performance.now() - started), error: String(error) }
      }
    } finally {
      await Promise.allSettled([dialer.call('stop'), target.call('stop')])
    }
  }

  async function row(spec: Omit<TopologyRow, 'attempts'>, a: () => LabNode, b: () => LabNode, count = ATTEMPTS): Promise<TopologyRow> {
    const attempts: Attempt[] = []
    for (let i = 0; i < count; i++) attempts.push(await attempt(a(), b()))
    const done = { ...spec, attempts }
    rows.push(done)
    return done
  }

  /** Every attempt connected, and each end reported one of `methods`, both the same. */
  function expectEvery(result: TopologyRow, methods: readonly string[]): void {
    for (const one of result.attempts) {
      expect(one.error).toBeUndefined()
      expect(methods).toContain(one.methods[0])
      expect(one.methods[1]).toBe(one.methods[0])
    }
  }

  const timeout = (attempts: number, each = 20): number => (attempts * each + 20) * 1000

  it('same router, LAN reachable, by peer id (no beacon): direct over the LAN address on both ends', async () => {
    const result = await row({ a: 'same router', b: 'same router', expected: 'direct' }, () => host('home', 0), () => host('home', 1))
    expectEvery(result, ['direct'])
    for (const one of result.attempts) expect(one.transport).toBe('quic')
  }, timeout(ATTEMPTS))

  it('same router, guest network (hosts isolated), hairpinning router: punched through its public address, not relayed', async () => {
    const result = await row(
      { a: 'guest LAN', b: 'guest LAN', expected: 'punched', notes: 'LAN blocked; hairpinned through the router' },
      () => host('guest', 0),
      () => host('guest', 1),
    )
    expectEvery(result, ['punched'])
  }, timeout(ATTEMPTS))

  it('same router, guest network, no hairpinning: relayed, without waiting out the full punch budget', async () => {
    const result = await row(
      { a: 'guest LAN', b: 'guest LAN', expected: 'relayed', notes: 'LAN blocked, no hairpin: relay after sameNatTimeout (2 s)' },
      () => host('guest-nohairpin', 0),
      () => host('guest-nohairpin', 1),
    )
    expectEvery(result, ['relayed'])
    // Before issue 18 the relay came only after the full 5 s punch budget.
    for (const one of result.attempts) expect(one.ms).toBeLessThan(5_000)
  }, timeout(ATTEMPTS))

  it('double NAT (home router behind a 100.64/10 carrier NAT) ↔ EIM: hole-punched', async () => {
    const result = await row({ a: 'double NAT', b: 'EIM', expected: 'punched' }, () => host('double'), () => host('eim'))
    expectEvery(result, ['punched'])
  }, timeout(ATTEMPTS))

  it('public node → double NAT, by peer id: hole-punched (the NATed side opens both NATs)', async () => {
    const outsider = lab.outsiders[0] as LabNode
    const result = await row({ a: 'public', b: 'double NAT', expected: 'punched' }, () => outsider, () => host('double'))
    expectEvery(result, ['punched'])
  }, timeout(ATTEMPTS))

  it('two homes behind the same carrier NAT (it hairpins, RFC 4787 REQ-9): hole-punched through its public address', async () => {
    const result = await row(
      { a: 'double NAT', b: 'double NAT, same carrier NAT', expected: 'punched', notes: 'both home routers punched; the carrier NAT reflects' },
      () => host('double'),
      () => host('double2'),
    )
    expectEvery(result, ['punched'])
  }, timeout(ATTEMPTS))

  it(`router with a ${UDP_TIMEOUT_S} s UDP timeout ↔ EIM: connected, idle ${IDLE_MS / 1000} s, the same connection still answers`, async () => {
    expect(await udpTimeouts(lab, lab.routers.short!)).toEqual([UDP_TIMEOUT_S, UDP_TIMEOUT_S])
    const notes: string[] = []
    const one = await attempt(host('short'), host('eim'), async (dialer, target, id) => {
      await sleep(IDLE_MS)
      const started = performance.now()
      expect(await dialer.call('request', { peerId: target.peerId, data: 'after-idle' })).toBe('echo:after-idle')
      expect(await target.call('request', { peerId: dialer.peerId, data: 'back-after-idle' })).toBe('echo:back-after-idle')
      notes.push(`after ${IDLE_MS / 1000} s idle: answered in ${Math.round(performance.now() - started)} ms on the same connection`)
      // Keep-alives held the router's mapping: no reconnect was needed.
      expect(((await dialer.call('connection', { peerId: target.peerId })) as { id: string } | null)?.id).toBe(id)
    })
    const result: TopologyRow = { a: `EIM, UDP timeout ${UDP_TIMEOUT_S} s`, b: 'EIM', expected: 'punched', attempts: [one], notes: notes.join('; ') || one.error }
    rows.push(result)
    expectEvery(result, ['punched'])
  }, 90_000)
})
