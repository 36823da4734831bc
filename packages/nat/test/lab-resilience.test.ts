/**
 * Resilience in the NAT lab (issue 13): real nodes behind real NAT routers in
 * network namespaces, while the network changes under them: a router replaces
 * its NAT mappings, WAN links lose 10 %, a router forgets idle UDP flows, a
 * relay dies or vanishes, a peer closes or is SIGKILLed and restarted.
 *
 * Each scenario measures messages sent, acknowledged, arrived, duplicated and
 * resolved-but-lost, the time until messages flow again, and the connection
 * method before and after; the figures go to the `resilience` section of
 * `lab-results.json` and a table. Assertions cover what holds today: zero
 * resolved-but-lost and zero duplicates everywhere, all requests answered
 * under loss, the first request after idle, a killed relay's failover, a
 * closed QUIC connection replaced at once. Recovery targets the code does not
 * meet yet are recorded as figures and listed, not asserted (see UNMET below
 * and the README's Resilience table).
 *
 * Peer-addressed `node.send` / `node.request` / `node.keep` are used when the
 * node has them; otherwise `conn.send` with re-dialling. Needs root; skipped
 * loudly otherwise. Nodes run from the BUILT packages.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LabHost,
  type LabNode,
  type NatLab,
  type NatLabOptions,
  type NodeFeatures,
  type RequestBatchResult,
  type SendRecord,
  type StartParams,
  announceSkip,
  blackhole,
  createNatLab,
  labReady,
  remapNat,
  setUdpTimeout,
  setWanLoss,
  udpTimeouts,
} from '../../../tools/netlab/src/index.js'
import { flowArrivals, flowingAgain, methodOf, printTimeline } from './lab-flow.js'
import { type ResilienceRow, formatResilience, mergeResults } from './lab-report.js'

const runs = labReady('NAT lab resilience (packages/nat)', ['turnserver', 'conntrack'])

/** CRUST_LAB_QUICK=1: the idle scenario in 40 s (25 s NAT timeout) instead of as the issue states it (20 s, 90 s idle), for a quicker local run. */
const quick = process.env.CRUST_LAB_QUICK === '1'
const resultsFile = fileURLToPath(new URL('../../../lab-results.json', import.meta.url))
const transports: StartParams['transports'] = [
  { kind: 'tcp', options: { host: '0.0.0.0' } },
  { kind: 'quic', options: { host: '0.0.0.0' } },
]
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Requirements of issue 13 the measured figures do not meet yet; printed with the table. */
const UNMET: string[] = []

describe.runIf(runs)('resilience in the NAT lab (issue 13)', () => {
  const rows: ResilienceRow[] = []
  let features: NodeFeatures = { nodeSend: false, nodeRequest: false, keep: false }

  beforeAll(async () => {
    await withLab({ routers: [] }, async (lab) => {
      const probe = await LabHost.start(lab.lab, lab.publicHost.ns, { config: {}, transports })
      features = (await probe.call('features')) as NodeFeatures
      await probe.call('stop')
    })
    const missing = Object.entries(features).filter(([, has]) => !has)
    if (missing.length > 0) {
      announceSkip(
        `resilience assertions that need ${missing.map(([name]) => name).join(', ')}`,
        'the node does not have them yet (issue 13); scenarios fall back to conn.send + re-dial and record the figures',
      )
    }
  }, 30_000)

  afterAll(() => {
    if (rows.length === 0) return
    mergeResults(resultsFile, { resilience: { generatedAt: new Date().toISOString(), features, rows, unmet: UNMET } })
    const unmet = UNMET.length > 0 ? `\nnot met yet:\n${UNMET.map((line) => `  - ${line}`).join('\n')}` : ''
    process.stdout.write(`\n${formatResilience(rows)}${unmet}\nwritten to ${resultsFile}\n`)
  })

  async function withLab<T>(options: NatLabOptions, body: (lab: NatLab) => Promise<T>): Promise<T> {
    const lab = await createNatLab(options)
    try {
      return await body(lab)
    } finally {
      await lab.destroy()
    }
  }

  /** A NATed node: STUN against coturn, hole punching, relay client (with `relays` when given). */
  function natNode(lab: NatLab, host: LabNode, relays?: ReadonlyArray<{ peerId: string; addresses: string[] }>): Promise<LabHost> {
    const { ip, secondIp } = lab.publicHost
    return LabHost.start(lab.lab, host.ns, {
      config: {},
      transports,
      services: [
        { kind: 'stun', options: { servers: [`${ip}:3478`, `${secondIp}:3478`], timeout: 200 } },
        { kind: 'holePunch' },
        { kind: 'relay', options: relays ? { relays, discover: false } : {} },
      ],
    })
  }

  function publicNode(lab: NatLab, ns: string, services: StartParams['services'], config: Record<string, unknown> = {}): Promise<LabHost> {
    return LabHost.start(lab.lab, ns, { config, transports, services })
  }

  async function joinRendezvous(node: LabHost, rendezvous: LabHost, transport?: 'quic'): Promise<void> {
    await node.call('connect', { peer: { peerId: rendezvous.peerId, addresses: rendezvous.addresses }, transport })
    const deadline = Date.now() + 10_000
    while (((await node.call('nat')) as { mapping: string }).mapping === 'unknown') {
      if (Date.now() > deadline) throw new Error('STUN did not classify the NAT within 10 s')
      await sleep(100)
    }
  }

  const peerOf = async (host: LabHost): Promise<{ peerId: string; addresses: string[] }> => ({
    peerId: host.peerId,
    addresses: (await host.call('addresses')) as string[],
  })

  interface FlowFigures {
    readonly sends: SendRecord[]
    readonly sent: number
    readonly acknowledged: number
    readonly rejected: number
    readonly unsettled: number
    readonly arrived: number
    readonly duplicated: number
    readonly resolvedButLost: number
    readonly usesNodeSend: boolean
  }

  /** Stop the sender's flow, give stragglers time, and count. */
  async function finishFlow(sender: LabHost, receivers: LabHost[], settleMs: number): Promise<FlowFigures> {
    const { sends, usesNodeSend } = (await sender.call('stopFlow', { settleMs })) as { sends: SendRecord[]; usesNodeSend: boolean }
    await sleep(300)
    const seen = flowArrivals(...receivers)
    const resolved = sends.filter((send) => send.outcome === 'resolved')
    return {
      sends,
      sent: sends.length,
      acknowledged: resolved.length,
      rejected: sends.filter((send) => send.outcome === 'rejected').length,
      unsettled: sends.filter((send) => send.outcome === undefined).length,
      arrived: seen.size,
      duplicated: [...seen.values()].reduce((sum, arrival) => sum + arrival.copies - 1, 0),
      resolvedButLost: resolved.filter((send) => !seen.has(send.seq)).length,
      usesNodeSend,
    }
  }

  function record(scenario: string, figures: FlowFigures, recoveryMs: number | null | undefined, before: string, after: string, notes = ''): void {
    const codes = new Map<string, number>()
    for (const send of figures.sends) if (send.error) codes.set(send.error, (codes.get(send.error) ?? 0) + 1)
    const byCode = [...codes].map(([code, n]) => `${code}×${n}`).join(' ')
    const rejected = figures.rejected + figures.unsettled > 0 ? `rejected ${figures.rejected}${byCode ? ` (${byCode})` : ''}, still pending ${figures.unsettled}` : ''
    const row: ResilienceRow = {
      scenario,
      api: figures.usesNodeSend ? 'node' : 'conn',
      sent: figures.sent,
      acknowledged: figures.acknowledged,
      arrived: figures.arrived,
      duplicated: figures.duplicated,
      resolvedButLost: figures.resolvedButLost,
      recoveryMs,
      methodBefore: before,
      methodAfter: after,
      notes: [rejected, notes].filter(Boolean).join('; '),
    }
    rows.push(row)
  }

  /** The sender's peer-level events for `peer` (issue 13), as a note: e.g. `disconnected PATH_LOST, reconnected gap 3300 ms`. */
  function peerEvents(sender: LabHost, peer: LabHost): string {
    const seen = sender.events
      .filter((event) => event.event.startsWith('peer:') && (event.payload as { peerId?: string }).peerId === peer.peerId)
      .map((event) => {
        const payload = event.payload as { reason?: string; gapMs?: number }
        const name = event.event.slice('peer:'.length)
        if (payload.gapMs !== undefined) return `${name} gap ${Math.round(payload.gapMs)} ms`
        return payload.reason ? `${name} (${payload.reason})` : name
      })
    return seen.length > 0 ? `events: ${seen.join(', ')}` : ''
  }

  /** Note a requirement of the issue the figure does not meet (recorded, printed, not asserted). */
  function requirement(holds: boolean, text: string): void {
    if (!holds) UNMET.push(text)
  }

  /** Two hosts behind EIM routers, joined at a rendezvous (over `linkTransport`, default TCP), with a hole-punched connection A → B. */
  async function punchedPair(lab: NatLab, linkTransport?: 'quic'): Promise<{ a: LabHost; b: LabHost; rendezvous: LabHost }> {
    const rendezvous = await publicNode(lab, lab.publicHost.ns, [{ kind: 'holePunch' }, { kind: 'relayServer' }], {
      listen: ['tcp://0.0.0.0:4001', 'quic://0.0.0.0:4001'],
    })
    const [a, b] = await Promise.all([natNode(lab, lab.routers.a!.hosts[0]!), natNode(lab, lab.routers.b!.hosts[0]!)])
    await Promise.all([joinRendezvous(a, rendezvous, linkTransport), joinRendezvous(b, rendezvous, linkTransport)])
    const connected = (await a.call('connect', { peer: await peerOf(b) })) as { method: string; transport: string }
    expect(connected.method).toBe('punched')
    expect(connected.transport).toBe('quic')
    return { a, b, rendezvous }
  }

  const eimPair: NatLabOptions = { routers: [{ name: 'a', kind: 'eim' }, { name: 'b', kind: 'eim' }] }
  /** How long a scenario waits for messages to flow again before recording "never". */
  const WINDOW = 25_000

  // The sender's NAT, the receiver's (who waits for nothing and must notice by itself), and both; with the
  // rendezvous links over TCP (reset by the moved NAT) and over QUIC (which follows the new port: only STUN tells).
  const remaps = [
    ['the sender side', undefined],
    ['the receiver side', undefined],
    ['both sides', undefined],
    ['both sides', 'quic'],
  ] as const
  for (const [sides, linkTransport] of remaps) {
    const links = linkTransport === 'quic' ? ', rendezvous links over QUIC' : ''
    it(`NAT mapping replaced mid-session (new public port) on ${sides}${links}: nothing acknowledged is lost`, async () => {
      await withLab(eimPair, async (lab) => {
        const { a, b, rendezvous } = await punchedPair(lab, linkTransport)
        if (features.keep) await a.call('keep', { peer: await peerOf(b) })
        await a.call('startFlow', { peer: await peerOf(b), intervalMs: [20, 50], timeoutMs: WINDOW })
        await sleep(1_500)
        const before = await methodOf(a, b)
        if (sides !== 'the receiver side') await remapNat(lab, lab.routers.a!)
        if (sides !== 'the sender side') await remapNat(lab, lab.routers.b!)
        const changedAt = Date.now()
        const arrivedAt = await flowingAgain(changedAt, WINDOW, () => [b])
        const recoveryMs = arrivedAt === null ? null : arrivedAt - changedAt
        await sleep(1_000)
        const figures = await finishFlow(a, [b], 6_000)
        record(`NAT port change, ${sides} (EIM↔EIM punched${links})`, figures, recoveryMs, before, await methodOf(a, b), peerEvents(a, b))
        if (process.env.CRUST_LAB_DEBUG === '1') printTimeline(changedAt, { a, b, rendezvous })
        expect(figures.resolvedButLost).toBe(0)
        expect(figures.duplicated).toBe(0)
        // Every message gets through eventually (node.send resends over the new path).
        if (figures.usesNodeSend) expect(figures.acknowledged).toBe(figures.sent)
        // The moved node's probe goes unanswered (about 1.3 s), it checks its other paths, finds its rendezvous
        // link reset (the network changed), closes the silent path, asks STUN again and reconnects; the pair
        // punches anew. About 2 s measured; the issue's 5 s asserted, the same method or better.
        expect(recoveryMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(5_000)
        expect(await methodOf(a, b)).toBe('punched')
        requirement(
          recoveryMs !== null && recoveryMs <= 5_000,
          `NAT port change on ${sides}${links}: messages flowing again within 5 s; measured ${recoveryMs ?? `never within ${WINDOW}`} ms`,
        )
      })
    }, 60_000)
  }

  it('NAT port change under a QUIC connection to a public node: the connection follows the new port (no reconnect, nothing lost)', async () => {
    await withLab({ routers: [{ name: 'a', kind: 'eim' }] }, async (lab) => {
      const quicOnly: StartParams['transports'] = [{ kind: 'quic', options: { host: '0.0.0.0' } }]
      const server = await LabHost.start(lab.lab, lab.publicHost.ns, { config: { listen: ['quic://0.0.0.0:4001'] }, transports: quicOnly })
      const client = await LabHost.start(lab.lab, lab.routers.a!.hosts[0]!.ns, { config: {}, transports: quicOnly })
      const target = await peerOf(server)
      await client.call('connect', { peer: target })
      await client.call('startFlow', { peer: target, intervalMs: [20, 50], timeoutMs: WINDOW })
      await sleep(1_000)
      await remapNat(lab, lab.routers.a!)
      const changedAt = Date.now()
      await sleep(3_000)
      const figures = await finishFlow(client, [server], 3_000)
      const after = figures.sends.filter((send) => send.startedAt >= changedAt - 100)
      const slowest = Math.max(...after.map((send) => (send.endedAt ?? Number.POSITIVE_INFINITY) - send.startedAt))
      const closes = client.events.filter((event) => event.event === 'connection:close').length
      record('NAT port change, QUIC client → public node', figures, undefined, 'direct', await methodOf(client, server), `slowest send after the change ${slowest} ms; connections closed ${closes}`)
      // RFC 9000 §9.3: the server sees the client's new address and answers there (quiche validates the path);
      // nothing in between filters it, so the same connection goes on. TCP cannot: the server resets the new 4-tuple.
      expect(closes).toBe(0)
      expect(slowest).toBeLessThan(1_000)
      expect(figures.resolvedButLost).toBe(0)
      expect(figures.acknowledged).toBe(figures.sent)
      await Promise.all([client.call('stop'), server.call('stop')]).catch(() => {})
    })
  }, 60_000)

  it('10 % random loss on both WAN links during 1,000 requests: all answered, none duplicated', async () => {
    await withLab(eimPair, async (lab) => {
      const { a, b } = await punchedPair(lab)
      const before = await methodOf(a, b)
      await setWanLoss(lab, lab.routers.a!, 10)
      await setWanLoss(lab, lab.routers.b!, 10)
      await b.call('handled')
      const result = (await a.call('requestBatch', { peer: await peerOf(b), count: 1_000, concurrency: 8, timeoutMs: 10_000 })) as RequestBatchResult
      const handled = (await b.call('handled')) as { requests: number; duplicates: number }
      const errors = Object.entries(result.errors).map(([code, n]) => `${code}×${n}`).join(' ')
      rows.push({
        scenario: '10 % loss both WANs, 1,000 requests',
        api: result.usesNodeRequest ? 'node' : 'conn',
        sent: 1_000,
        acknowledged: result.answered,
        arrived: handled.requests,
        duplicated: handled.duplicates,
        resolvedButLost: 0, // an answered request was handled by definition
        methodBefore: before,
        methodAfter: await methodOf(a, b),
        notes: `${result.ms} ms in all${errors ? `; failed ${errors}` : ''}`,
      })
      expect(result.wrong).toBe(0)
      expect(handled.duplicates).toBe(0)
      expect(result.answered).toBe(1_000)
    })
  }, 60_000)

  it(`router UDP conntrack timeout ${quick ? 25 : 20} s, punched connection idle ${quick ? 40 : 90} s: the first request works`, async () => {
    const [timeout, idle] = quick ? [25, 40_000] : [20, 90_000]
    await withLab(eimPair, async (lab) => {
      await setUdpTimeout(lab, lab.routers.a!, timeout)
      await setUdpTimeout(lab, lab.routers.b!, timeout)
      expect(await udpTimeouts(lab, lab.routers.a!)).toEqual([timeout, timeout])
      const { a, b } = await punchedPair(lab)
      const before = await methodOf(a, b)
      await sleep(idle)
      const started = Date.now()
      const answer = await a.call('request', { peerId: b.peerId, data: 'after-idle' }).catch((error: Error) => error)
      const ms = Date.now() - started
      const ok = answer === 'echo:after-idle'
      rows.push({
        scenario: `UDP timeout ${timeout} s, idle ${idle / 1000} s, then 1 request`,
        api: 'conn',
        sent: 1,
        acknowledged: ok ? 1 : 0,
        arrived: ok ? 1 : 0,
        duplicated: 0,
        resolvedButLost: 0,
        methodBefore: before,
        methodAfter: await methodOf(a, b),
        notes: ok ? `first request answered in ${ms} ms` : `first request failed after ${ms} ms: ${String(answer)}`,
      })
      expect(answer).toBe('echo:after-idle')
      expect(before).toBe('punched')
    })
  }, (quick ? 80 : 130) * 1000)

  for (const failure of ['killed', 'blackholed'] as const) {
    it(`relay of an EDM↔EDM pair ${failure} mid-session, second relay configured: nothing acknowledged is lost`, async () => {
      await withLab(
        { routers: [{ name: 'a', kind: 'edm' }, { name: 'b', kind: 'edm' }], outsiders: 2 },
        async (lab) => {
          const rendezvous = await publicNode(lab, lab.publicHost.ns, [{ kind: 'holePunch' }], {
            listen: ['tcp://0.0.0.0:4001', 'quic://0.0.0.0:4001'],
          })
          const relayHosts = await Promise.all(
            lab.outsiders.map((outsider) =>
              publicNode(lab, outsider.ns, [{ kind: 'relayServer' }], { listen: ['tcp://0.0.0.0:4002', 'quic://0.0.0.0:4002'] }),
            ),
          )
          const relays = await Promise.all(relayHosts.map(peerOf))
          const [a, b] = await Promise.all([natNode(lab, lab.routers.a!.hosts[0]!, relays), natNode(lab, lab.routers.b!.hosts[0]!, relays)])
          await Promise.all([joinRendezvous(a, rendezvous), joinRendezvous(b, rendezvous)])
          const connected = (await a.call('connect', { peer: await peerOf(b) })) as { method: string }
          expect(connected.method).toBe('relayed')
          if (features.keep) await a.call('keep', { peer: await peerOf(b) })
          await a.call('startFlow', { peer: await peerOf(b), intervalMs: [20, 50], timeoutMs: WINDOW })
          await sleep(1_500)
          const before = await methodOf(a, b)
          const [first] = relayHosts
          if (failure === 'killed') await first!.kill()
          else await blackhole(lab, lab.outsiders[0]!.ns)
          const failedAt = Date.now()
          const arrivedAt = await flowingAgain(failedAt, WINDOW, () => [b])
          const recoveryMs = arrivedAt === null ? null : arrivedAt - failedAt
          await sleep(1_000)
          const figures = await finishFlow(a, [b], 6_000)
          record(`relay ${failure} (EDM↔EDM, 2 relays)`, figures, recoveryMs, before, await methodOf(a, b), peerEvents(a, b))
          expect(figures.resolvedButLost).toBe(0)
          expect(figures.duplicated).toBe(0)
          // A killed relay (FIN/RST) fails over today: asserted. A blackholed one does not yet: recorded.
          if (failure === 'killed') expect(recoveryMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(5_000)
          // Blackholed: dead-path detection (4 s) plus the failover, about 4.8 s; asserted with room for a loaded machine.
          else expect(recoveryMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(8_000)
          // node.send resends what the dead relay did not deliver: every message arrives.
          if (figures.usesNodeSend) expect(figures.acknowledged).toBe(figures.sent)
          requirement(
            recoveryMs !== null && recoveryMs <= 5_000,
            `relay ${failure}: failover within 5 s; measured ${recoveryMs ?? `never within ${WINDOW}`} ms`,
          )
        },
      )
    }, 60_000)
  }

  /** How long the peer's close may take to reach us over the veth and be processed: a connect() within it may still see the old connection. */
  const CLOSE_IN_FLIGHT_MS = 100

  it('a peer closes a QUIC connection over a non-loopback path: time to a fresh connection, node.stop() time', async () => {
    await withLab({ routers: [], outsiders: 2 }, async (lab) => {
      const quicOnly: StartParams['transports'] = [{ kind: 'quic', options: { host: '0.0.0.0' } }]
      const [a, b] = await Promise.all(
        lab.outsiders.map((outsider) => LabHost.start(lab.lab, outsider.ns, { config: { listen: ['quic://0.0.0.0:4003'] }, transports: quicOnly })),
      )
      const target = { peerId: b!.peerId, addresses: [`quic://${lab.outsiders[1]!.ip}:4003`] }
      const first = (await a!.call('connect', { peer: target })) as { id: number; method: string; remoteAddress: string }
      expect(first.remoteAddress).toContain(lab.outsiders[1]!.ip)
      expect(await a!.call('request', { peerId: b!.peerId, data: 'x' })).toBe('echo:x')
      const closing = Date.now()
      await b!.call('close', { peerId: a!.peerId })
      const closeMs = Date.now() - closing
      const closedAt = Date.now()
      let fresh: number | null = null
      let staleReturns = 0
      while (Date.now() - closedAt < WINDOW) {
        const again = (await a!.call('connect', { peer: target }).catch(() => null)) as { id: number } | null
        if (again && again.id !== first.id) {
          const answered = await a!.call('request', { peerId: b!.peerId, data: 'y' }).catch(() => null)
          if (answered === 'echo:y') {
            fresh = Date.now() - closedAt
            break
          }
        } else if (again && Date.now() - closedAt > CLOSE_IN_FLIGHT_MS) staleReturns++ // before that the close may still be on its way
        await sleep(50)
      }
      const [stopMs, closerStopMs] = (await Promise.all([a!.call('stop'), b!.call('stop')])).map((ms) => Math.round(ms as number)) as [number, number]
      rows.push({
        scenario: 'peer closes QUIC (veth, not loopback)',
        api: 'conn',
        sent: 2,
        acknowledged: fresh === null ? 1 : 2,
        arrived: fresh === null ? 1 : 2,
        duplicated: 0,
        resolvedButLost: 0,
        recoveryMs: fresh,
        methodBefore: first.method,
        methodAfter: fresh === null ? 'none' : first.method,
        notes: `close() ${closeMs} ms; connect() returned the closed connection ${staleReturns}×; node.stop() ${stopMs} ms, closer's ${closerStopMs} ms`,
      })
      expect(fresh ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(1_000)
      expect(staleReturns).toBe(0)
      expect(stopMs).toBeLessThanOrEqual(1_000)
      expect(closerStopMs).toBeLessThanOrEqual(1_000)
    })
  }, 60_000)

  it('peer SIGKILLed and restarted with the same key: sends while it is down never resolve; time until connected again', async () => {
    await withLab({ routers: [{ name: 'a', kind: 'eim' }], outsiders: 1 }, async (lab) => {
      const keyFile = join(mkdtempSync(join(tmpdir(), 'crust-lab-key-')), 'node.key')
      const bParams: StartParams = {
        config: { listen: ['tcp://0.0.0.0:4004', 'quic://0.0.0.0:4004'], identity: { keyFile } },
        transports,
      }
      const ns = lab.outsiders[0]!.ns
      const b1 = await LabHost.start(lab.lab, ns, bParams)
      const a = await natNode(lab, lab.routers.a!.hosts[0]!)
      const target = await peerOf(b1)
      await a.call('connect', { peer: target })
      if (features.keep) await a.call('keep', { peer: target })
      await a.call('startFlow', { peer: target, intervalMs: [20, 50], timeoutMs: WINDOW })
      await sleep(1_500)
      const before = await methodOf(a, b1)
      await b1.kill()
      const killedAt = Date.now()
      await sleep(3_000)
      const b2 = await LabHost.start(lab.lab, ns, bParams)
      expect(b2.peerId).toBe(b1.peerId)
      const backAt = Date.now()
      const arrivedAt = await flowingAgain(backAt, WINDOW, () => [b2])
      const recoveryMs = arrivedAt === null ? null : arrivedAt - backAt
      await sleep(1_000)
      const figures = await finishFlow(a, [b1, b2], 6_000)
      const down = figures.sends.filter((send) => send.startedAt >= killedAt && send.startedAt < backAt)
      const resolvedWhileDown = down.filter((send) => send.outcome === 'resolved' && (send.endedAt ?? 0) < backAt).length
      record('peer SIGKILLed, restarted same key (3 s down)', figures, recoveryMs, before, await methodOf(a, b2), `sent while down ${down.length}, resolved while down ${resolvedWhileDown}; ${peerEvents(a, b2)}`)
      expect(figures.resolvedButLost).toBe(0)
      expect(resolvedWhileDown).toBe(0)
      expect(figures.duplicated).toBe(0)
      // 0.1–0.5 s with keep (a quick direct dial per transport every 0.5 s); the issue's 2 s asserted.
      if (features.keep) expect(recoveryMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(2_000)
      requirement(
        recoveryMs !== null && recoveryMs <= 2_000,
        `restarted peer${features.keep ? ' (keep)' : ' (no node.keep yet: re-dial per failed send)'}: connected again within 2 s of its return; measured ${recoveryMs ?? `never within ${WINDOW}`} ms`,
      )
      await b2.call('stop').catch(() => {})
    })
  }, 60_000)
})
