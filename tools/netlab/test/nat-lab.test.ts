import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { type LabNode, type LabRouter, announceSkip, blackhole, createNatLab, labSupport, remapNat, setUdpTimeout, udpTimeouts } from '../src/index.js'

const support = labSupport()
const hasCoturn = spawnSync('sh', ['-c', 'command -v turnserver']).status === 0
const runs = support.ok && hasCoturn
if (!runs) announceSkip('NAT lab self-test (tools/netlab)', support.ok ? 'coturn is not installed' : support.reason)

const stunProbe = fileURLToPath(new URL('../src/probes/stun-probe.ts', import.meta.url))
const stunPortsProbe = fileURLToPath(new URL('../src/probes/stun-ports-probe.ts', import.meta.url))

describe.runIf(runs)('NAT lab', () => {
  it('builds EIM and EDM routers whose mappings behave as named (checked with STUN against coturn)', async () => {
    const lab = await createNatLab({ routers: [{ name: 'eim', kind: 'eim' }, { name: 'edm', kind: 'edm' }] })
    try {
      const { ip, secondIp } = lab.publicHost
      const eimHost = lab.routers.eim!.hosts[0]!
      const edmHost = lab.routers.edm!.hosts[0]!
      const eim = (await lab.lab.runScript(eimHost.ns, stunProbe, [ip, secondIp])) as { first: string; second: string }
      const edm = (await lab.lab.runScript(edmHost.ns, stunProbe, [ip, secondIp])) as { first: string; second: string }
      expect(eim.first.split(':')[0]).toBe(lab.routers.eim!.wanIp) // translated to the router's WAN address
      expect(eim.first).toBe(eim.second) // endpoint-independent: same mapping for both servers
      expect(edm.first.split(':')[0]).toBe(lab.routers.edm!.wanIp)
      expect(edm.first).not.toBe(edm.second) // endpoint-dependent (symmetric)
    } finally {
      await lab.destroy()
    }
  }, 60_000)

  it('builds EDM routers that allocate ports sequentially (edm-seq) and at random (edm), as STUN sees them', async () => {
    const lab = await createNatLab({ routers: [{ name: 'seq', kind: 'edm-seq' }, { name: 'rnd', kind: 'edm' }] })
    try {
      const { ip, secondIp } = lab.publicHost
      const portsBehind = async (name: string): Promise<number[]> => {
        const out = (await lab.lab.runScript(lab.routers[name]!.hosts[0]!.ns, stunPortsProbe, [ip, secondIp, '3'])) as { ports: number[] }
        return out.ports
      }
      // Three sockets, two servers each: six new mappings, each on the port after the one before.
      const seq = await portsBehind('seq')
      expect(seq).toHaveLength(6)
      const first = seq[0]!
      expect(seq).toEqual([0, 1, 2, 3, 4, 5].map((i) => first + i))
      expect(first).toBeGreaterThanOrEqual(40_000)
      expect(first).toBeLessThan(41_000)
      // Random allocation: all different (endpoint-dependent), and not a run of consecutive ports.
      const rnd = await portsBehind('rnd')
      expect(new Set(rnd).size).toBe(6)
      expect(rnd.slice(1).every((port, i) => port === rnd[i]! + 1)).toBe(false)
    } finally {
      await lab.destroy()
    }
  }, 60_000)
})

const udpProbe = fileURLToPath(new URL('../src/probes/udp-probe.ts', import.meta.url))

describe.runIf(runs)('NAT lab topologies', () => {
  it('double NAT behind a 100.64/10 carrier NAT, a guest network that isolates its hosts, NAT loopback (hairpinning)', async () => {
    const lab = await createNatLab({
      routers: [
        { name: 'cgn', kind: 'cgn', hosts: 0 },
        { name: 'home', kind: 'eim', behind: 'cgn' },
        { name: 'guest', kind: 'eim', hosts: 2, isolated: true, hairpin: true },
        { name: 'plain', kind: 'eim', hosts: 2, isolated: true },
      ],
    })
    try {
      const { ip, secondIp } = lab.publicHost
      const { cgn, home, guest, plain } = lab.routers as Record<string, LabRouter>
      // Double NAT: the home router's WAN is on the carrier's shared address space; STUN sees the carrier's public address.
      expect(home!.wanIp).toMatch(/^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./)
      const seen = (await lab.lab.runScript(home!.hosts[0]!.ns, stunProbe, [ip, secondIp])) as { first: string; second: string }
      expect(seen.first.split(':')[0]).toBe(cgn!.wanIp)
      expect(seen.first).toBe(seen.second) // both NATs endpoint-independent

      /** B opens a mapping and waits; A sends to B's public mapping (or its LAN address). Where B saw A, and where A's answer came from. */
      const reflect = async (router: LabRouter, to: 'public' | 'lan'): Promise<{ from: string | null; reply: string | null; mapped: string }> => {
        const [a, b] = router.hosts as [LabNode, LabNode]
        const listener = lab.lab.spawn(b.ns, process.execPath, ['--import', 'tsx', udpProbe, 'listen', ip, '3000'])
        const lines: Array<Record<string, string | null>> = []
        listener.stdout?.on('data', (chunk: Buffer) => {
          for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, string | null>)
        })
        const deadline = Date.now() + 10_000
        while (lines.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
        const mapped = lines[0]?.mapped as string
        const [host, port] = to === 'public' ? (mapped.split(':') as [string, string]) : [b.ip, lines[0]?.local as string]
        const sent = (await lab.lab.runScript(a.ns, udpProbe, ['send', host, port, '1500'])) as { reply: string | null }
        while (lines.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
        return { mapped, reply: sent.reply, from: (lines[1]?.from as string | null | undefined) ?? null }
      }
      // Guest network: no LAN path between the hosts.
      const lan = await reflect(guest!, 'lan')
      expect(lan.from).toBeNull()
      expect(lan.reply).toBeNull()
      // Hairpinning: A reaches B at B's public mapping, seen from the router's public address, and the answer comes back from it.
      const hairpin = await reflect(guest!, 'public')
      expect(hairpin.from?.split(':')[0]).toBe(guest!.wanIp)
      expect(hairpin.reply).toBe(hairpin.mapped)
      // Without hairpinning nothing comes through.
      const none = await reflect(plain!, 'public')
      expect(none.from).toBeNull()
      expect(none.reply).toBeNull()
    } finally {
      await lab.destroy()
    }
  }, 60_000)
})

const hasConntrack = spawnSync('sh', ['-c', 'command -v conntrack']).status === 0
if (runs && !hasConntrack) announceSkip('NAT lab network events self-test', 'conntrack is not installed (scripts/lab-deps.sh)')

describe.runIf(runs && hasConntrack)('NAT lab network events', () => {
  it('remaps a router to new public ports (seen by STUN), sets its UDP timeout per namespace, blackholes a host', async () => {
    const lab = await createNatLab({ routers: [{ name: 'eim', kind: 'eim' }] })
    try {
      const { ip, secondIp } = lab.publicHost
      const router = lab.routers.eim!
      const host = router.hosts[0]!
      const mappedPort = async (): Promise<number> => {
        const seen = (await lab.lab.runScript(host.ns, stunProbe, [ip, secondIp])) as { first: string; second: string }
        expect(seen.first).toBe(seen.second) // still endpoint-independent
        return Number(seen.first.split(':')[1])
      }
      const before = await mappedPort() // masquerade keeps the host's ephemeral port
      const [low, high] = await remapNat(lab, router)
      expect(before < low || before > high).toBe(true)
      const moved = await mappedPort()
      expect(moved).toBeGreaterThanOrEqual(low)
      expect(moved).toBeLessThanOrEqual(high)

      const root = spawnSync('sysctl', ['-n', 'net.netfilter.nf_conntrack_udp_timeout']).stdout.toString().trim()
      await setUdpTimeout(lab, router, 7)
      expect(await udpTimeouts(lab, router)).toEqual([7, 7])
      // per namespace: the machine's own value is untouched
      expect(spawnSync('sysctl', ['-n', 'net.netfilter.nf_conntrack_udp_timeout']).stdout.toString().trim()).toBe(root)

      await blackhole(lab, host.ns)
      await expect(lab.lab.runScript(host.ns, stunProbe, [ip, secondIp])).rejects.toThrow()
      await blackhole(lab, host.ns, false)
      await mappedPort()
    } finally {
      await lab.destroy()
    }
  }, 60_000)
})

const hasUpnp = spawnSync('sh', ['-c', 'command -v miniupnpd && command -v upnpc']).status === 0
if (runs && !hasUpnp) announceSkip('NAT lab UPnP self-test', 'miniupnpd or miniupnpc is not installed')

describe.runIf(runs && hasUpnp)('NAT lab UPnP router', () => {
  it('runs a real UPnP gateway (miniupnpd) that maps a port for a LAN host', async () => {
    const lab = await createNatLab({ routers: [{ name: 'home', kind: 'upnp' }] })
    try {
      const router = lab.routers.home!
      const host = router.hosts[0]!
      const out = await lab.lab.exec(host.ns, 'upnpc', ['-i', '-a', host.ip, '40000', '40000', 'UDP', '30'])
      expect(out).toContain(`external ${router.wanIp}:40000 UDP is redirected to internal ${host.ip}:40000`)
    } finally {
      await lab.destroy()
    }
  }, 60_000)
})
