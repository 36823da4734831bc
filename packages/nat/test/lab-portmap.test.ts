/**
 * pcp() against a real gateway (issue 18): miniupnpd with UPnP off (PCP and
 * NAT-PMP only) on a home router in network namespaces, an outsider on the
 * "internet" dialling in through the mapped ports, a router reboot under a
 * running node (noticed by the periodic epoch check or the gateway's
 * ANNOUNCE), and a gateway that appears after the node started. Each
 * figure is printed and written to the `portmap` section of lab-results.json.
 * Needs root, miniupnpd and coturn (miniupnpd learns its public address by
 * STUN); skipped loudly otherwise. Nodes run from the BUILT packages: run
 * `npx tsc -b tsconfig.json` first.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LabHost,
  type LabRouter,
  type NatLab,
  type StartParams,
  createNatLab,
  gatewayLeases,
  labReady,
  rebootGateway,
  startGateway,
} from '../../../tools/netlab/src/index.js'
import type { NatStatus, PortMapping } from '../src/index.js'
import { mergeResults } from './lab-report.js'

const runs = labReady('PCP / NAT-PMP lab tests (packages/nat)', ['miniupnpd', 'turnserver', 'conntrack'])

const resultsFile = fileURLToPath(new URL('../../../lab-results.json', import.meta.url))
/** IPv4 only: the lab routes no IPv6. */
const transports: StartParams['transports'] = [
  { kind: 'tcp', options: { host: '0.0.0.0' } },
  { kind: 'quic', options: { host: '0.0.0.0' } },
]
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

interface ConnectResult {
  readonly transport: string
  readonly method: string
  readonly remoteAddress: string
}

/** One measured figure of this file. */
interface PortmapRow {
  readonly scenario: string
  readonly ms: number | null
  readonly method: string
  readonly notes: string
}

async function natOf(host: LabHost): Promise<NatStatus> {
  return (await host.call('nat')) as NatStatus
}

/** The types of the pcp `service:event`s a lab node emitted, in order. */
function pcpEvents(host: LabHost): string[] {
  return host.events
    .filter((e) => e.event === 'service:event' && (e.payload as { service: string }).service === 'pcp')
    .map((e) => (e.payload as { type: string }).type)
}

/** Poll `probe` every 50 ms until it is true; the ms it took, or null after `timeoutMs`. */
async function within(timeoutMs: number, probe: () => Promise<boolean> | boolean): Promise<number | null> {
  const start = Date.now()
  while (Date.now() - start < timeoutMs) {
    if (await probe()) return Date.now() - start
    await sleep(50)
  }
  return null
}

/** Connect `from` to `to` through exactly `address`; both ends must report `method` and answer a request each way. */
async function connectThrough(from: LabHost, to: LabHost, address: string, transport: 'tcp' | 'quic', method: string): Promise<void> {
  const result = (await from.call('connect', { peer: { peerId: to.peerId, addresses: [address] }, transport })) as ConnectResult
  expect(result).toMatchObject({ transport, method, remoteAddress: address })
  const inbound = (await to.call('connection', { peerId: from.peerId })) as ConnectResult | null
  expect(inbound).toMatchObject({ transport, method, direction: 'inbound' })
  expect(await from.call('request', { peerId: to.peerId, data: `to-${transport}` })).toBe(`echo:to-${transport}`)
  expect(await to.call('request', { peerId: from.peerId, data: `from-${transport}` })).toBe(`echo:from-${transport}`)
}

describe.runIf(runs)('pcp() with a real miniupnpd gateway (UPnP off)', () => {
  const rows: PortmapRow[] = []
  let lab: NatLab

  beforeAll(async () => {
    lab = await createNatLab({
      routers: [
        { name: 'pcp', kind: 'pcp' },
        { name: 'late', kind: 'pcp', gatewayRunning: false },
      ],
      outsiders: 2,
    })
  }, 60_000)

  afterAll(async () => {
    await lab?.destroy()
    if (rows.length === 0) return
    mergeResults(resultsFile, { portmap: { generatedAt: new Date().toISOString(), rows } })
    const lines = rows.map((row) => `| ${row.scenario} | ${row.ms === null ? 'never' : `${row.ms} ms`} | ${row.method} | ${row.notes} |`)
    process.stdout.write(`\n| port mapping scenario | time | method | notes |\n|---|---|---|---|\n${lines.join('\n')}\nwritten to ${resultsFile}\n`)
  })

  function pcpNode(router: LabRouter, options: Record<string, unknown> = {}): Promise<LabHost> {
    return LabHost.start(lab.lab, router.hosts[0]!.ns, { config: {}, transports, services: [{ kind: 'pcp', options: { leaseSeconds: 4, ...options } }] })
  }

  function byProtocol(nat: NatStatus, protocol: PortMapping['protocol']): PortMapping {
    return nat.pcp.mappings.find((m) => m.protocol === protocol) as PortMapping
  }

  it('maps TCP and UDP with PCP, outsiders connect through both (method pcp), renewals keep them, stop removes them', async () => {
    const router = lab.routers.pcp!
    const home = router.hosts[0]!
    const startedAt = Date.now()
    const node = await pcpNode(router)
    const startMs = Date.now() - startedAt
    const [viaTcp, viaQuic] = await Promise.all(lab.outsiders.map((outsider) => LabHost.start(lab.lab, outsider.ns, { config: {}, transports })))
    const nat = await natOf(node)
    // start() waited for the mappings: status and addresses are complete.
    expect(nat.pcp).toMatchObject({ state: 'mapped', protocol: 'pcp', externalIp: router.wanIp, gateway: router.lanIp })
    const [tcp, udp] = [byProtocol(nat, 'tcp'), byProtocol(nat, 'udp')]
    expect(tcp.address).toBe(`tcp://${router.wanIp}:${tcp.externalPort}`)
    expect(udp.address).toBe(`quic://${router.wanIp}:${udp.externalPort}`)
    expect(node.addresses).toEqual(expect.arrayContaining([tcp.address, udp.address]))
    const leases = (await gatewayLeases(router)).join('\n')
    expect(leases).toMatch(new RegExp(`TCP:${tcp.externalPort}:${home.ip}:${tcp.internalPort}:`))
    expect(leases).toMatch(new RegExp(`UDP:${udp.externalPort}:${home.ip}:${udp.internalPort}:`))

    const connectAt = Date.now()
    await connectThrough(viaTcp!, node, tcp.address, 'tcp', 'pcp')
    const connectMs = Date.now() - connectAt
    await connectThrough(viaQuic!, node, udp.address, 'quic', 'pcp')
    rows.push({ scenario: 'EIM router with PCP only: outsider dials the mapping', ms: connectMs, method: 'pcp', notes: `node start with mapping ${startMs} ms; tcp and quic` })

    // Two lease periods later the mappings are still there because they were renewed.
    await sleep(2 * 4_000 + 500)
    expect(pcpEvents(node).filter((type) => type === 'renewed').length).toBeGreaterThanOrEqual(3)
    expect(await gatewayLeases(router)).toHaveLength(2)
    await viaTcp!.call('stop')
    viaTcp!.peerId = ((await viaTcp!.call('start', { config: {}, transports })) as { peerId: string }).peerId
    await connectThrough(viaTcp!, node, tcp.address, 'tcp', 'pcp')

    await node.call('stop')
    expect(pcpEvents(node)).toContain('removed')
    expect(await gatewayLeases(router)).toEqual([])
    await Promise.all([viaTcp!.call('stop'), viaQuic!.call('stop')])
  }, 60_000)

  it('NAT-PMP only (protocols: [nat-pmp]): outsiders connect through the mapping (method nat-pmp), stop removes it', async () => {
    const router = lab.routers.pcp!
    const node = await pcpNode(router, { protocols: ['nat-pmp'] })
    const nat = await natOf(node)
    expect(nat.pcp).toMatchObject({ state: 'mapped', protocol: 'nat-pmp', externalIp: router.wanIp })
    expect(await gatewayLeases(router)).toHaveLength(2)
    const outsider = await LabHost.start(lab.lab, lab.outsiders[0]!.ns, { config: {}, transports })
    const connectAt = Date.now()
    await connectThrough(outsider, node, byProtocol(nat, 'udp').address, 'quic', 'nat-pmp')
    rows.push({ scenario: 'EIM router, NAT-PMP: outsider dials the mapping', ms: Date.now() - connectAt, method: 'nat-pmp', notes: 'quic' })
    await node.call('stop')
    expect(await gatewayLeases(router)).toEqual([])
    await outsider.call('stop')
  }, 60_000)

  it('router reboot (miniupnpd killed, mappings and conntrack gone, restarted): the running node maps again and publishes within 10 s', async () => {
    const router = lab.routers.pcp!
    // Default checkInterval (5 s) and lease (1 h): renewal is far away, only the epoch check can notice.
    const node = await LabHost.start(lab.lab, router.hosts[0]!.ns, { config: {}, transports, services: [{ kind: 'pcp' }] })
    const outsider = await LabHost.start(lab.lab, lab.outsiders[0]!.ns, { config: {}, transports })
    const before = byProtocol(await natOf(node), 'tcp')
    await connectThrough(outsider, node, before.address, 'tcp', 'pcp')
    await outsider.call('stop')
    const rebootAt = Date.now()
    await rebootGateway(lab, router) // its lease file and rules are gone: any mapping after this is a new one
    const backAt = Date.now()
    // Re-mapped: the router holds both mappings again and the node says so.
    const remapMs = await within(10_000, async () => pcpEvents(node).includes('remapped') && (await gatewayLeases(router)).length === 2)
    const after = byProtocol(await natOf(node), 'tcp')
    rows.push({
      scenario: 'router reboot under a running node: mapped and published again',
      ms: remapMs,
      method: 'pcp',
      notes: `after the gateway was back (reboot took ${backAt - rebootAt} ms); default checkInterval 5 s; ${before.address} → ${after.address}`,
    })
    expect(remapMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(10_000)
    outsider.peerId = ((await outsider.call('start', { config: {}, transports })) as { peerId: string }).peerId
    await connectThrough(outsider, node, after.address, 'tcp', 'pcp')
    await Promise.all([node.call('stop'), outsider.call('stop')])
    expect(await gatewayLeases(router)).toEqual([])
  }, 60_000)

  it('router reboot noticed from the gateway\'s own ANNOUNCE (224.0.0.1:5350) alone: re-mapped within 2 s', async () => {
    const router = lab.routers.pcp!
    // A one-minute check: only the announcement can explain a quick re-map.
    const node = await pcpNode(router, { leaseSeconds: 3600, checkInterval: 60_000 })
    const before = pcpEvents(node).length
    await rebootGateway(lab, router)
    // `remapped` when the epoch shows the reboot; `renewed` when it came too soon after the last one to tell (the
    // previous test's): either way the node asked for every mapping again, and the router holds them.
    const remade = (): boolean => pcpEvents(node).slice(before).some((type) => type === 'remapped' || type === 'renewed')
    const remapMs = await within(10_000, async () => remade() && (await gatewayLeases(router)).length === 2)
    rows.push({ scenario: 'router reboot, noticed from its ANNOUNCE (checkInterval 60 s)', ms: remapMs, method: 'pcp', notes: 'after the gateway was back' })
    expect(remapMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(2_000)
    await node.call('stop')
    expect(await gatewayLeases(router)).toEqual([])
  }, 60_000)

  it('a gateway that appears after the node started is found from its announcement and mapped', async () => {
    const router = lab.routers.late!
    // A one-minute search interval: only the gateway's ANNOUNCE at its start can explain a quick find.
    const node = await pcpNode(router, { searchInterval: 60_000, attempts: 2 })
    expect((await natOf(node)).pcp.state).toBe('unavailable')
    await sleep(1500)
    await startGateway(lab, router)
    const foundMs = await within(15_000, async () => (await natOf(node)).pcp.state === 'mapped')
    rows.push({ scenario: 'gateway appears after the node started: found and mapped', ms: foundMs, method: 'pcp', notes: 'from its ANNOUNCE (searchInterval 60 s)' })
    expect(foundMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(2_000)
    const outsider = await LabHost.start(lab.lab, lab.outsiders[1]!.ns, { config: {}, transports })
    await connectThrough(outsider, node, byProtocol(await natOf(node), 'udp').address, 'quic', 'pcp')
    expect(pcpEvents(node).filter((type) => type === 'unavailable')).toHaveLength(1) // said once, not at every search
    await Promise.all([node.call('stop'), outsider.call('stop')])
  }, 60_000)
})
