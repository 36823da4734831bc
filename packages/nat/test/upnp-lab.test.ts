/**
 * upnp() against a real gateway: miniupnpd on a home router in network
 * namespaces (tools/netlab), an outsider on the "internet" dialling in
 * through the mapped ports, and a plain router with no gateway at all.
 * Needs root, miniupnpd, upnpc and coturn (miniupnpd learns its public
 * address by STUN); skipped loudly otherwise. Nodes run from the BUILT
 * packages: run `npx tsc -b tsconfig.json` first.
 */
import type { NatStatus, PortMapping } from '../src/index.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LabHost,
  type NatLab,
  type StartParams,
  createNatLab,
  gatewayLeases,
  labReady,
  rebootGateway,
  startGateway,
} from '../../../tools/netlab/src/index.js'

const runs = labReady('UPnP lab tests (packages/nat)', ['miniupnpd', 'upnpc', 'turnserver', 'conntrack'])

/** IPv4 only: the lab routes no IPv6. */
const transports: StartParams['transports'] = [
  { kind: 'tcp', options: { host: '0.0.0.0' } },
  { kind: 'quic', options: { host: '0.0.0.0' } },
]

interface ConnectResult {
  readonly transport: string
  readonly method: string
  readonly remoteAddress: string
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** The types of the `service:event`s a lab node emitted, in order. */
function serviceEvents(host: LabHost): string[] {
  return host.events.filter((e) => e.event === 'service:event').map((e) => (e.payload as { type: string }).type)
}

async function natOf(host: LabHost): Promise<NatStatus> {
  return (await host.call('nat')) as NatStatus
}

/** Connect `from` to `to` through exactly `address`, and check both ends see a UPnP connection that carries traffic both ways. */
async function connectThrough(from: LabHost, to: LabHost, address: string, transport: 'tcp' | 'quic', method = 'upnp'): Promise<void> {
  const result = (await from.call('connect', { peer: { peerId: to.peerId, addresses: [address] }, transport })) as ConnectResult
  expect(result).toMatchObject({ transport, method, remoteAddress: address })
  const inbound = (await to.call('connection', { peerId: from.peerId })) as ConnectResult | null
  expect(inbound).toMatchObject({ transport, method, direction: 'inbound' })

  expect(await from.call('request', { peerId: to.peerId, data: `to-${transport}` })).toBe(`echo:to-${transport}`)
  expect(await to.call('request', { peerId: from.peerId, data: `from-${transport}` })).toBe(`echo:from-${transport}`)
  await from.call('send', { peerId: to.peerId, data: `hello over ${transport}` })
  await to.call('send', { peerId: from.peerId, data: `hello back over ${transport}` })
  const arrived = (host: LabHost, data: string): boolean => host.events.some((e) => e.event === 'message' && (e.payload as { data: string }).data === data)
  await expect.poll(() => arrived(to, `hello over ${transport}`)).toBe(true)
  await expect.poll(() => arrived(from, `hello back over ${transport}`)).toBe(true)
}

describe.runIf(runs)('upnp() with a real miniupnpd gateway', () => {
  let lab: NatLab

  beforeAll(async () => {
    lab = await createNatLab({
      routers: [
        { name: 'home', kind: 'upnp' },
        { name: 'plain', kind: 'eim' },
        { name: 'late', kind: 'upnp', gatewayRunning: false },
      ],
      outsiders: 1,
    })
  }, 60_000)

  afterAll(async () => {
    await lab?.destroy()
  })

  /** The mappings miniupnpd holds, as `upnpc -l` lists them from the host: `TCP 40001->10.1.0.2:40001 'crust lab' '' 3`. */
  async function gatewayMappings(ns: string): Promise<string[]> {
    // -u skips SSDP (an upnpc search can miss on a busy machine); -i: miniupnpd calls its WAN link
    // disconnected, its address being in a reserved range.
    const description = `http://${lab.routers.home!.lanIp}:5000/rootDesc.xml`
    const out = await lab.lab.exec(ns, 'upnpc', ['-i', '-u', description, '-l'])
    return out.split('\n').filter((line) => /^\s*\d+\s+(TCP|UDP)\s+\d+->/.test(line))
  }

  it('maps TCP and UDP, outsiders connect directly through both (method upnp), renewals keep them, and stop removes them', async () => {
    const router = lab.routers.home!
    const home = router.hosts[0]!
    const outsider = lab.outsiders[0]!
    const lease = 4
    // One outsider per transport: a peer's connections are pooled, so each outsider makes one.
    const [node, viaTcp, viaQuic] = await Promise.all([
      LabHost.start(lab.lab, home.ns, { config: {}, transports, services: [{ kind: 'upnp', options: { leaseSeconds: lease, description: 'crust lab' } }] }),
      LabHost.start(lab.lab, outsider.ns, { config: {}, transports }),
      LabHost.start(lab.lab, outsider.ns, { config: {}, transports }),
    ])
    const nat = await natOf(node)
    // start() waited for the first mapping: status and addresses are complete.
    expect(nat.upnp).toMatchObject({ state: 'mapped', externalIp: router.wanIp, gateway: expect.stringContaining(`http://${router.lanIp}:5000/`) })
    const byProtocol = (protocol: PortMapping['protocol']): PortMapping => nat.upnp.mappings.find((m) => m.protocol === protocol) as PortMapping
    const [tcp, udp] = [byProtocol('tcp'), byProtocol('udp')]
    expect(tcp.address).toBe(`tcp://${router.wanIp}:${tcp.internalPort}`)
    expect(udp.address).toBe(`quic://${router.wanIp}:${udp.internalPort}`)
    expect(node.addresses).toEqual(expect.arrayContaining([tcp.address, udp.address]))
    expect(serviceEvents(node)).toContain('mapped')
    const held = (await gatewayMappings(home.ns)).join('\n')
    expect(held).toMatch(new RegExp(`TCP\\s+${tcp.externalPort}->${home.ip}:${tcp.internalPort}\\s+'crust lab'`))
    expect(held).toMatch(new RegExp(`UDP\\s+${udp.externalPort}->${home.ip}:${udp.internalPort}\\s+'crust lab'`))

    await connectThrough(viaTcp, node, tcp.address, 'tcp')
    await connectThrough(viaQuic, node, udp.address, 'quic')

    // Two lease periods later the mappings still let new connections in because they were renewed,
    // while a mapping nobody renews (made with upnpc, same lease) is gone.
    await lab.lab.exec(home.ns, 'upnpc', ['-i', '-u', `http://${router.lanIp}:5000/rootDesc.xml`, '-e', 'control', '-a', home.ip, '45678', '45678', 'TCP', String(lease)])
    await sleep(2 * lease * 1000 + 500)
    expect(serviceEvents(node).filter((type) => type === 'renewed').length).toBeGreaterThanOrEqual(3)
    const still = (await gatewayMappings(home.ns)).join('\n')
    expect(still).not.toContain('45678')
    expect(still).toContain(`${tcp.externalPort}->${home.ip}`)
    await Promise.all(
      (
        [
          [viaTcp, tcp.address, 'tcp'],
          [viaQuic, udp.address, 'quic'],
        ] as const
      ).map(async ([host, address, transport]) => {
        await host.call('stop')
        host.peerId = ((await host.call('start', { config: {}, transports })) as { peerId: string }).peerId
        await connectThrough(host, node, address, transport)
      }),
    )

    await node.call('stop')
    expect(serviceEvents(node)).toContain('removed')
    expect(await gatewayMappings(home.ns)).toEqual([])
  }, 60_000)

  it('behind a router with no gateway: starts within the discovery timeout, one log line, state unavailable, and still works', async () => {
    const host = lab.routers.plain!.hosts[0]!
    const [outsider, node] = await Promise.all([
      LabHost.start(lab.lab, lab.outsiders[0]!.ns, { config: {}, transports }),
      LabHost.start(lab.lab, host.ns, { config: {}, transports }),
    ])
    // Restart the node in its warm process, now with upnp(), so the time measured is the node's start.
    await node.call('stop')
    const startedAt = Date.now()
    const started = (await node.call('start', {
      config: { logLevel: 'info' },
      transports,
      services: [{ kind: 'upnp', options: { discoveryTimeout: 1000 } }],
    })) as { peerId: string }
    const startMs = Date.now() - startedAt
    node.peerId = started.peerId
    expect(startMs).toBeGreaterThanOrEqual(1000) // it did look for a gateway...
    expect(startMs).toBeLessThan(2000) // ...for no longer than discoveryTimeout (plus loading nat-upnp)
    const nat = await natOf(node)
    expect(nat.upnp).toEqual({ state: 'unavailable', mappings: [], reason: 'no UPnP gateway answered within 1000 ms' })
    // stderr is its own pipe: the line may arrive after the reply on stdout.
    const upnpLines = (): string[] => node.log.split('\n').filter((line) => /:upnp \w+: /.test(line)) // `crust:bciq…:service:upnp info: …`
    const oneLine = [expect.stringMatching(/info: no UPnP gateway answered within 1000 ms; carrying on without port mappings$/)]
    await expect.poll(upnpLines).toEqual(oneLine)
    expect(node.events.filter((e) => e.event === 'service:event').map((e) => e.payload)).toEqual([
      { service: 'upnp', type: 'unavailable', message: 'no UPnP gateway answered within 1000 ms' },
    ])

    const outAddress = outsider.addresses.find((address) => address.startsWith(`tcp://${lab.outsiders[0]!.ip}:`)) as string
    const dialled = (await node.call('connect', { peer: { peerId: outsider.peerId, addresses: [outAddress] } })) as ConnectResult
    expect(dialled.method).toBe('direct')
    expect(await node.call('request', { peerId: outsider.peerId, data: 'out' })).toBe('echo:out')
    expect(await outsider.call('request', { peerId: node.peerId, data: 'in' })).toBe('echo:in')
    const stopAt = Date.now()
    await node.call('stop')
    expect(Date.now() - stopAt).toBeLessThan(1000)
    expect(upnpLines()).toEqual(oneLine) // and nothing more, stop included
  }, 30_000)

  /** Poll `probe` every 50 ms until it is true; the ms it took, or null after `timeoutMs`. */
  async function within(timeoutMs: number, probe: () => Promise<boolean>): Promise<number | null> {
    const start = Date.now()
    while (Date.now() - start < timeoutMs) {
      if (await probe()) return Date.now() - start
      await sleep(50)
    }
    return null
  }

  it('router reboot (miniupnpd killed, mappings and conntrack gone, restarted): the running node maps again within 10 s (default checkInterval)', async () => {
    const router = lab.routers.home!
    const home = router.hosts[0]!
    const [node, outsider] = await Promise.all([
      LabHost.start(lab.lab, home.ns, { config: {}, transports, services: [{ kind: 'upnp' }] }),
      LabHost.start(lab.lab, lab.outsiders[0]!.ns, { config: {}, transports }),
    ])
    const tcp = (await natOf(node)).upnp.mappings.find((m) => m.protocol === 'tcp') as PortMapping
    const mappedEvents = serviceEvents(node).filter((type) => type === 'mapped').length
    await rebootGateway(lab, router) // its rules and lease file are gone: any mapping after this is a new one
    const remapMs = await within(10_000, async () => serviceEvents(node).filter((type) => type === 'mapped').length > mappedEvents && (await gatewayMappings(home.ns)).length === 2)
    process.stdout.write(`\nUPnP router reboot under a running node: mapped and published again ${remapMs ?? 'never'} ms after the gateway was back\n`)
    expect(remapMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(10_000)
    await connectThrough(outsider, node, tcp.address, 'tcp')
    await Promise.all([node.call('stop'), outsider.call('stop')])
    expect(await gatewayMappings(home.ns)).toEqual([])
  }, 60_000)

  it('router reboot noticed from its SSDP ssdp:alive NOTIFY alone (checkInterval 60 s): mapped again within 2 s', async () => {
    const router = lab.routers.home!
    const home = router.hosts[0]!
    const node = await LabHost.start(lab.lab, home.ns, { config: {}, transports, services: [{ kind: 'upnp', options: { checkInterval: 60_000 } }] })
    const mappedEvents = serviceEvents(node).filter((type) => type === 'mapped').length
    await rebootGateway(lab, router)
    const remapMs = await within(10_000, async () => serviceEvents(node).filter((type) => type === 'mapped').length > mappedEvents && (await gatewayMappings(home.ns)).length === 2)
    process.stdout.write(`\nUPnP router reboot noticed from its NOTIFY: mapped again ${remapMs ?? 'never'} ms after the gateway was back\n`)
    expect(remapMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(2_000)
    await node.call('stop')
    expect(await gatewayMappings(home.ns)).toEqual([])
  }, 60_000)

  it('a UPnP gateway that appears after the node started is found (its NOTIFY, else the next search with backoff), said once', async () => {
    const router = lab.routers.late!
    const node = await LabHost.start(lab.lab, router.hosts[0]!.ns, {
      config: {},
      transports,
      services: [{ kind: 'upnp', options: { discoveryTimeout: 500, searchInterval: 1000 } }],
    })
    expect((await natOf(node)).upnp.state).toBe('unavailable')
    await sleep(1_000)
    await startGateway(lab, router)
    const foundMs = await within(15_000, async () => (await natOf(node)).upnp.state === 'mapped')
    process.stdout.write(`\nUPnP gateway appeared after start: found and mapped ${foundMs ?? 'never'} ms after it listened\n`)
    // Searches after 1, 2, 4 s ...: found within the wait then in force plus one search.
    expect(foundMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(8_000)
    expect(serviceEvents(node).filter((type) => type === 'unavailable')).toHaveLength(1)
    await node.call('stop')
  }, 60_000)

  it('upnp() and pcp() together on a router that serves both: both map (two router entries per port: PCP asks for its stable port), outsiders connect (method pcp), stop leaves nothing', async () => {
    const router = lab.routers.home!
    const home = router.hosts[0]!
    const [node, outsider] = await Promise.all([
      LabHost.start(lab.lab, home.ns, { config: {}, transports, services: [{ kind: 'upnp' }, { kind: 'pcp' }] }),
      LabHost.start(lab.lab, lab.outsiders[0]!.ns, { config: {}, transports }),
    ])
    const nat = await natOf(node)
    expect(nat.upnp.state).toBe('mapped')
    expect(nat.pcp).toMatchObject({ state: 'mapped', protocol: 'pcp' })
    expect(await gatewayLeases(router)).toHaveLength(4) // UPnP's and PCP's: tcp and udp each
    const viaPcp = nat.pcp.mappings.find((m) => m.protocol === 'udp') as PortMapping
    await connectThrough(outsider, node, viaPcp.address, 'quic', 'pcp')
    await Promise.all([node.call('stop'), outsider.call('stop')])
    expect(await gatewayLeases(router)).toEqual([])
  }, 60_000)
})
