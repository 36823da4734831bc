/**
 * Hard-NAT hole punching in the NAT lab (issue 18): an endpoint-independent
 * node paired with fresh nodes behind endpoint-dependent routers, one with
 * sequential port allocation (`edm-seq`: port prediction) and one with random
 * allocation (`edm`: relayed first, then birthday probing upgrades the
 * connection). Each attempt records connected, time to the first answered
 * request, time until both ends report `punched`, and the punch packets both
 * sides sent. The dialling side alternates, so either side is the hard one.
 * `CRUST_LAB_HARD_ATTEMPTS` attempts per pair type (default 3; `pnpm test:lab`: 20).
 * Needs root; nodes run from the BUILT packages.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LabHost, type LabNode, type NatLab, type StartParams, createNatLab, labReady } from '../../../tools/netlab/src/index.js'
import { type HardNatRow, formatHardNat, mergeResults, summarizeHardNat } from './lab-report.js'

const runs = labReady('hard-NAT hole punching (packages/nat)', ['turnserver'])

const resultsFile = fileURLToPath(new URL('../../../lab-results.json', import.meta.url))
const ATTEMPTS = Math.max(1, Number(process.env.CRUST_LAB_HARD_ATTEMPTS ?? 3))

const transports: StartParams['transports'] = [
  { kind: 'tcp', options: { host: '0.0.0.0' } },
  { kind: 'quic', options: { host: '0.0.0.0' } },
]

/** How long to wait for both ends to report `punched` after the connect call (ms): beyond the 5 s, to see late ones. */
const DIRECT_WAIT_MS = 10_000

describe.runIf(runs)('hard-NAT hole punching (EIM ↔ EDM)', () => {
  let lab: NatLab
  let rendezvous: LabHost
  let easy: LabHost
  const rows: HardNatRow[] = []

  function natNode(host: LabNode): Promise<LabHost> {
    const { ip, secondIp } = lab.publicHost
    return LabHost.start(lab.lab, host.ns, {
      config: {},
      transports,
      services: [
        { kind: 'stun', options: { servers: [`${ip}:3478`, `${secondIp}:3478`], timeout: 200 } },
        { kind: 'holePunch' },
        { kind: 'relay' },
      ],
    })
  }

  async function join(node: LabHost): Promise<string> {
    await node.call('connect', { peer: { peerId: rendezvous.peerId, addresses: rendezvous.addresses } })
    const deadline = Date.now() + 10_000
    for (;;) {
      const nat = (await node.call('nat')) as { mapping: string }
      if (nat.mapping !== 'unknown') return nat.mapping
      if (Date.now() > deadline) throw new Error('STUN did not classify the NAT within 10 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  beforeAll(async () => {
    lab = await createNatLab({
      routers: [
        { name: 'eim', kind: 'eim' },
        { name: 'seq', kind: 'edm-seq' },
        { name: 'rnd', kind: 'edm' },
      ],
    })
    rendezvous = await LabHost.start(lab.lab, lab.publicHost.ns, {
      config: { listen: ['tcp://0.0.0.0:4001', 'quic://0.0.0.0:4001'] },
      transports,
      services: [{ kind: 'holePunch' }, { kind: 'relayServer' }],
    })
    easy = await natNode(lab.routers.eim!.hosts[0]!)
    expect(await join(easy)).toBe('endpoint-independent')
  }, 60_000)

  afterAll(async () => {
    await Promise.allSettled([easy?.call('stop'), rendezvous?.call('stop')])
    await lab?.destroy()
    if (rows.length === 0) return
    const summary = summarizeHardNat(rows)
    mergeResults(resultsFile, { hardNat: { generatedAt: new Date().toISOString(), attemptsPerPair: ATTEMPTS, summary, rows } })
    process.stdout.write(`\n${formatHardNat(summary)}\nwritten to ${resultsFile}\n`)
  })

  /** Packets each of a node's hard-NAT attempts with `peerId` sent, from its `hard-nat` service events. */
  function packetsSent(node: LabHost, peerId: string): number[] {
    return node.events
      .filter((e) => e.event === 'service:event')
      .map((e) => e.payload as { type: string; peerId?: string; message: string })
      .filter((event) => event.type === 'hard-nat' && event.peerId === peerId)
      .map((event) => Number(/sent (\d+) packets/.exec(event.message)?.[1] ?? 0))
  }

  async function attempt(pair: HardNatRow['pair'], router: string, index: number): Promise<HardNatRow> {
    const hard = await natNode(lab.routers[router]!.hosts[0]!)
    try {
      expect(await join(hard)).toBe('endpoint-dependent')
      const [dialer, target] = index % 2 === 0 ? [easy, hard] : [hard, easy]
      const started = performance.now()
      const since = () => Math.round(performance.now() - started)
      let firstMessageMs: number | null = null
      let firstMethod = 'failed'
      let directMs: number | null = null
      try {
        const connected = (await dialer.call('connect', { peer: { peerId: target.peerId, addresses: target.addresses } })) as { method: string }
        expect(await dialer.call('request', { peerId: target.peerId, data: 'first' })).toBe('echo:first')
        firstMessageMs = since()
        firstMethod = connected.method
        // Messages keep flowing while the connection is upgraded; both ends must agree on `punched`.
        while (since() < DIRECT_WAIT_MS) {
          const [a, b] = (await Promise.all([
            dialer.call('connection', { peerId: target.peerId }),
            target.call('connection', { peerId: dialer.peerId }),
          ])) as Array<{ method: string } | null>
          if (a?.method === 'punched' && b?.method === 'punched') {
            directMs = since()
            break
          }
          expect(await dialer.call('request', { peerId: target.peerId, data: 'during' })).toBe('echo:during')
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        expect(await target.call('request', { peerId: dialer.peerId, data: 'after' })).toBe('echo:after')
      } catch (error) {
        if (firstMessageMs !== null) throw error // connected, then broke: a real failure
      }
      // The target side reports when its punching budget ends: give it that long.
      await new Promise((resolve) => setTimeout(resolve, directMs !== null && pair === 'EIM ↔ EDM (sequential)' ? 1_600 : 300))
      const easySide = packetsSent(easy, hard.peerId)
      const hardSide = packetsSent(hard, easy.peerId)
      const packets = [...easySide, ...hardSide].reduce((sum, n) => sum + n, 0)
      const row: HardNatRow = {
        pair,
        dialer: dialer === easy ? 'EIM' : 'EDM',
        firstMessageMs,
        firstMethod,
        directMs,
        packets,
        mostPerSide: { easy: Math.max(0, ...easySide), hard: Math.max(0, ...hardSide) },
      }
      rows.push(row)
      return row
    } finally {
      await hard.call('stop').catch(() => {})
    }
  }

  it(`EIM ↔ EDM (sequential ports): direct by port prediction within 2 s, ${ATTEMPTS} attempts`, async () => {
    const results: HardNatRow[] = []
    for (let i = 0; i < ATTEMPTS; i++) results.push(await attempt('EIM ↔ EDM (sequential)', 'seq', i))
    expect(results.every((row) => row.firstMessageMs !== null)).toBe(true) // connected 100 %
    // Issue bound: ≥ 99 % direct within 2 s, i.e. every attempt of 20 (or fewer).
    expect(results.filter((row) => row.directMs !== null && row.directMs <= 2_000)).toHaveLength(results.length)
  }, 60_000 + ATTEMPTS * 15_000)

  it(`EIM ↔ EDM (random ports): relayed at once, then upgraded by birthday probing within 5 s, ${ATTEMPTS} attempts`, async () => {
    const results: HardNatRow[] = []
    for (let i = 0; i < ATTEMPTS; i++) results.push(await attempt('EIM ↔ EDM (random)', 'rnd', i))
    expect(results.every((row) => row.firstMessageMs !== null)).toBe(true) // connected 100 %
    // Issue bound: ≥ 95 % direct within 5 s (1 miss in 20 attempts; never fewer than all but one).
    const direct = results.filter((row) => row.directMs !== null && row.directMs <= 5_000).length
    expect(direct).toBeGreaterThanOrEqual(Math.min(results.length - 1, Math.ceil(results.length * 0.95)))
    // Bounded: no attempt sends more than its stated budget (easy side 1,536 probes, hard side 256 probe sockets; 40 punches each).
    for (const row of results) {
      expect(row.mostPerSide.easy).toBeLessThanOrEqual(1_536 + 40)
      expect(row.mostPerSide.hard).toBeLessThanOrEqual(256 + 40)
    }
  }, 60_000 + ATTEMPTS * 15_000)
})
