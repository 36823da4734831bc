/**
 * The NAT traversal matrix (issue 6), in network namespaces: a public
 * rendezvous/relay node and a STUN server (coturn), home routers of each kind
 * (endpoint-independent `masquerade`, endpoint-dependent `masquerade random`,
 * a real miniupnpd UPnP gateway, one with UPnP off serving PCP / NAT-PMP, all
 * with input policy drop), and hosts behind
 * them. Every pair must end in a working connection that carries messages
 * and requests both ways; the results go to `lab-results.json` and a table.
 * Needs root (CI); skipped loudly otherwise. Nodes run from the BUILT packages.
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
} from '../../../tools/netlab/src/index.js'
import { type LabRow, formatMatrix, mergeResults, summarize } from './lab-report.js'

const runs = labReady('NAT traversal matrix (packages/nat)', ['turnserver', 'miniupnpd'])

const resultsFile = fileURLToPath(new URL('../../../lab-results.json', import.meta.url))

/** Transports every lab node runs (IPv4 only: the lab has no IPv6 routing). */
const transports: StartParams['transports'] = [
  { kind: 'tcp', options: { host: '0.0.0.0' } },
  { kind: 'quic', options: { host: '0.0.0.0' } },
]

describe.runIf(runs)('NAT traversal matrix', () => {
  let lab: NatLab
  let rendezvous: LabHost
  const rows: LabRow[] = []

  beforeAll(async () => {
    lab = await createNatLab({
      routers: [
        { name: 'eim1', kind: 'eim' },
        { name: 'eim2', kind: 'eim' },
        { name: 'edm1', kind: 'edm' },
        { name: 'edm2', kind: 'edm' },
        { name: 'upnp', kind: 'upnp' },
        { name: 'pcp', kind: 'pcp' },
        { name: 'home', kind: 'eim', hosts: 2 },
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
    const summary = summarize(rows)
    mergeResults(resultsFile, { generatedAt: new Date().toISOString(), summary, rows })
    process.stdout.write(`\n${formatMatrix(rows, summary)}\nwritten to ${resultsFile}\n`)
  })

  /** A NATed node: STUN against coturn's two addresses, hole punching, relay client, and whatever `extra` adds. */
  function natNode(host: LabNode, extra: Partial<StartParams> = {}): Promise<LabHost> {
    const { ip, secondIp } = lab.publicHost
    return LabHost.start(lab.lab, host.ns, {
      config: {},
      transports,
      ...extra,
      services: [
        { kind: 'stun', options: { servers: [`${ip}:3478`, `${secondIp}:3478`], timeout: 200 } },
        { kind: 'holePunch' },
        { kind: 'relay' },
        ...(extra.services ?? []),
      ],
    })
  }

  /** Join the rendezvous and wait until STUN has classified the NAT. */
  async function join(node: LabHost): Promise<void> {
    await node.call('connect', { peer: { peerId: rendezvous.peerId, addresses: rendezvous.addresses } })
    const deadline = Date.now() + 10_000
    for (;;) {
      const nat = (await node.call('nat')) as { mapping: string }
      if (nat.mapping !== 'unknown') return
      if (Date.now() > deadline) throw new Error('STUN did not classify the NAT within 10 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /**
   * Connect `dialer` to `target` (by peer id and the addresses the target
   * claims), then exchange a request and a message both ways. Records the row.
   */
  async function exchange(row: Omit<LabRow, 'outcome' | 'ms' | 'transport' | 'methods'>, dialer: LabHost, target: LabHost): Promise<LabRow> {
    const targetAddresses = (await target.call('addresses')) as string[]
    const started = performance.now()
    let recorded: LabRow
    try {
      const connected = (await dialer.call('connect', { peer: { peerId: target.peerId, addresses: targetAddresses } })) as {
        transport: string
        method: string
      }
      const answer = await dialer.call('request', { peerId: target.peerId, data: 'hello' })
      const ms = Math.round(performance.now() - started)
      expect(answer).toBe('echo:hello')
      expect(await target.call('request', { peerId: dialer.peerId, data: 'back' })).toBe('echo:back')
      await dialer.call('send', { peerId: target.peerId, data: 'one-way' })
      await target.call('send', { peerId: dialer.peerId, data: 'other-way' })
      await target.waitForEvent('message', 5_000)
      await dialer.waitForEvent('message', 5_000)
      const far = (await target.call('connection', { peerId: dialer.peerId })) as { method: string } | null
      recorded = {
        ...row,
        outcome: connected.method as LabRow['outcome'],
        methods: [connected.method, far?.method ?? 'none'],
        transport: connected.transport,
        ms,
      }
    } catch (error) {
      recorded = { ...row, outcome: 'failed', methods: [], transport: '-', ms: Math.round(performance.now() - started), error: String(error) }
    }
    rows.push(recorded)
    return recorded
  }

  async function pair(
    row: Omit<LabRow, 'outcome' | 'ms' | 'transport' | 'methods'>,
    a: LabNode,
    b: LabNode,
    options: { a?: Partial<StartParams>; b?: Partial<StartParams>; viaRendezvous?: boolean } = {},
  ): Promise<LabRow> {
    const nodeA = await natNode(a, options.a)
    const nodeB = await natNode(b, options.b)
    try {
      if (options.viaRendezvous !== false) await Promise.all([join(nodeA), join(nodeB)])
      return await exchange(row, nodeA, nodeB)
    } finally {
      await Promise.allSettled([nodeA.call('stop'), nodeB.call('stop')])
    }
  }

  const host = (router: string, index = 0): LabNode => lab.routers[router]?.hosts[index] as LabNode

  it('EIM ↔ EIM: hole-punched direct QUIC', async () => {
    const row = await pair({ a: 'EIM', b: 'EIM', expected: 'punched' }, host('eim1'), host('eim2'))
    expect(row.error).toBeUndefined()
    expect(row.methods).toEqual(['punched', 'punched'])
    expect(row.transport).toBe('quic')
  }, 60_000)

  it('EIM → UPnP router: direct through the UPnP mapping, no punching', async () => {
    const row = await pair({ a: 'EIM', b: 'UPnP', expected: 'upnp' }, host('eim1'), host('upnp'), {
      b: { services: [{ kind: 'upnp', options: { discoveryTimeout: 2_000 } }] },
    })
    expect(row.error).toBeUndefined()
    expect(row.methods).toEqual(['upnp', 'upnp'])
  }, 60_000)

  it('EIM → PCP / NAT-PMP router (UPnP off): direct through the PCP mapping, no punching', async () => {
    const row = await pair({ a: 'EIM', b: 'PCP', expected: 'pcp' }, host('eim1'), host('pcp'), { b: { services: [{ kind: 'pcp' }] } })
    expect(row.error).toBeUndefined()
    expect(row.methods).toEqual(['pcp', 'pcp'])
  }, 60_000)

  it('EIM ↔ EDM: punched if possible, else relayed', async () => {
    const row = await pair({ a: 'EIM', b: 'EDM', expected: 'punched|relayed' }, host('eim2'), host('edm1'))
    expect(row.error).toBeUndefined()
    expect(['punched', 'relayed']).toContain(row.outcome)
    expect(row.methods[0]).toBe(row.methods[1])
  }, 60_000)

  it('EDM ↔ EDM: relayed, still end-to-end encrypted and authenticated', async () => {
    const row = await pair({ a: 'EDM', b: 'EDM', expected: 'relayed' }, host('edm1'), host('edm2'))
    expect(row.error).toBeUndefined()
    expect(row.methods).toEqual(['relayed', 'relayed'])
  }, 60_000)

  it('same LAN: direct over LAN addresses found by the beacon', async () => {
    const beacon = { discovery: [{ kind: 'beacon' as const, options: { interval: 500 } }] }
    const nodeA = await natNode(host('home', 0), beacon)
    const nodeB = await natNode(host('home', 1), beacon)
    try {
      const found = (await nodeA.waitForEvent('peer:discovered', 10_000)) as { peerId: string; addresses: string[] }
      expect(found.peerId).toBe(nodeB.peerId)
      const row = await exchange({ a: 'LAN', b: 'LAN', expected: 'direct' }, nodeA, nodeB)
      expect(row.error).toBeUndefined()
      expect(row.methods).toEqual(['direct', 'direct'])
    } finally {
      await Promise.allSettled([nodeA.call('stop'), nodeB.call('stop')])
    }
  }, 60_000)
})
