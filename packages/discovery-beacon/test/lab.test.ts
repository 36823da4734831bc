/**
 * Beacons on a real (namespaced) LAN: two hosts on a bridge behind a NAT
 * router, and a host beyond the router on the "internet" side. Needs root;
 * skipped loudly otherwise. Nodes run from the BUILT packages (`pnpm build`).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { LabHost, NetLab, type StartParams, announceSkip, labSupport } from '../../../tools/netlab/src/index.js'
import { sleep, waitFor } from './helpers.js'

const support = labSupport()
if (!support.ok) announceSkip('discovery-beacon LAN tests in network namespaces', support.reason)

const LAN_PREFIX = '192.168.84'

/** Namespace names of the lab. */
interface Topology {
  readonly lab: NetLab
  readonly router: string
  readonly lan1: string
  readonly lan2: string
  readonly far: string
}

/**
 * lan1 (192.168.84.11) and lan2 (.12) on a bridge in the router namespace
 * (192.168.84.1); the router masquerades them out of its WAN side
 * (203.0.113.1), where far (203.0.113.2) sits. The router's input policy is
 * drop, as on real home routers.
 */
async function buildLab(): Promise<Topology> {
  const lab = NetLab.create()
  const router = await lab.addNamespace('rt')
  const lan1 = await lab.addNamespace('lan1')
  const lan2 = await lab.addNamespace('lan2')
  const far = await lab.addNamespace('far')
  for (const ns of [router, lan1, lan2, far]) {
    // Link-local IPv6 usable at once (no duplicate address detection delay), so IPv6 multicast works from the start.
    await lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'])
  }
  const inRouter = (...args: string[]): Promise<string> => lab.exec(router, 'ip', args)
  await inRouter('link', 'add', 'br0', 'type', 'bridge')
  // Bridged LAN traffic, IPv4 and IPv6, must not go through the router's forward chain (see NAT-LAB-NOTES).
  for (const family of ['iptables', 'ip6tables', 'arptables']) {
    await lab.exec(router, 'sysctl', ['-qw', `net.bridge.bridge-nf-call-${family}=0`]).catch(() => '')
  }
  await inRouter('addr', 'add', `${LAN_PREFIX}.1/24`, 'dev', 'br0')
  await inRouter('link', 'set', 'br0', 'up')
  for (const [index, host] of [lan1, lan2].entries()) {
    const port = `lan${index}`
    await inRouter('link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host)
    await inRouter('link', 'set', port, 'master', 'br0')
    await inRouter('link', 'set', port, 'up')
    await lab.exec(host, 'ip', ['addr', 'add', `${LAN_PREFIX}.${11 + index}/24`, 'dev', 'eth0'])
    await lab.exec(host, 'ip', ['link', 'set', 'eth0', 'up'])
    await lab.exec(host, 'ip', ['route', 'add', 'default', 'via', `${LAN_PREFIX}.1`])
  }
  await inRouter('link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', far)
  await inRouter('addr', 'add', '203.0.113.1/24', 'dev', 'wan0')
  await inRouter('link', 'set', 'wan0', 'up')
  await lab.exec(far, 'ip', ['addr', 'add', '203.0.113.2/24', 'dev', 'eth0'])
  await lab.exec(far, 'ip', ['link', 'set', 'eth0', 'up'])
  await lab.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
  await lab.nft(
    router,
    `table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${LAN_PREFIX}.0/24 oifname "wan0" masquerade
  }
}
table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname { "lo", "br0" } accept
    meta l4proto { icmp, ipv6-icmp } accept
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "br0" oifname "wan0" accept
  }
}
`,
  )
  return { lab, router, lan1, lan2, far }
}

/** Start a lab node with TCP on all interfaces and the beacon plugin. */
function startNode(lab: NetLab, namespace: string, beacon: Record<string, unknown>, network = 'beacon-lab'): Promise<LabHost> {
  const params: StartParams = {
    config: { networkName: network },
    transports: [{ kind: 'tcp', options: { port: 0 } }],
    discovery: [{ kind: 'beacon', options: beacon }],
  }
  return LabHost.start(lab, namespace, params)
}

interface Discovered {
  readonly peerId: string
  readonly addresses: string[]
  readonly via: string
}

function discovered(host: LabHost): Discovered[] {
  return host.events.filter((e) => e.event === 'peer:discovered').map((e) => e.payload as Discovered)
}

function opened(host: LabHost): string[] {
  return host.events.filter((e) => e.event === 'connection:open').map((e) => (e.payload as { peerId: string }).peerId)
}

function knows(host: LabHost, other: LabHost): boolean {
  return discovered(host).some((p) => p.peerId === other.peerId && p.via === 'beacon')
}

describe.runIf(support.ok)('beacon discovery on a namespaced LAN behind a NAT router', () => {
  let topology: Topology | undefined
  afterEach(async () => {
    await topology?.lab.destroy()
    topology = undefined
  })

  it('LAN hosts (two nodes on one of them) find and connect to each other; the host beyond the router sees nothing', async () => {
    topology = await buildLab()
    const { lab, lan1, lan2, far } = topology
    const options = { autoConnect: true, interval: 1000 }
    const farNode = await startNode(lab, far, options)
    const a1 = await startNode(lab, lan1, options)
    const a2 = await startNode(lab, lan1, options) // same host, same port (SO_REUSEADDR), another process
    const b = await startNode(lab, lan2, options)
    const lanNodes = [a1, a2, b]
    const started = Date.now()

    await waitFor(() => lanNodes.every((x) => lanNodes.every((y) => x === y || knows(x, y))), 3000, 'LAN discovery')
    const discoveryMs = Date.now() - started
    // b is found at its LAN address, never at a loopback one.
    const bSeenByA1 = discovered(a1).find((p) => p.peerId === b.peerId)
    expect(bSeenByA1?.addresses.length).toBeGreaterThan(0)
    for (const address of bSeenByA1?.addresses ?? []) expect(address).toMatch(/^tcp:\/\/(192\.168\.84\.12|\[[0-9a-f:]+\]):\d+$/)
    expect(bSeenByA1?.addresses[0]).toMatch(/^tcp:\/\/192\.168\.84\.12:\d+$/)
    await waitFor(() => lanNodes.every((x) => lanNodes.every((y) => x === y || opened(x).includes(y.peerId))), 3000, 'LAN connections')

    // Give the far host several announcement rounds (and its own start queries) to hear anything.
    await sleep(Math.max(0, 3000 - discoveryMs))
    expect(discovered(farNode)).toEqual([])
    expect(opened(farNode)).toEqual([])
    for (const node of lanNodes) expect(discovered(node).some((p) => p.peerId === farNode.peerId)).toBe(false)
  }, 60_000)

  it('IPv6 link-local multicast alone is enough on the LAN', async () => {
    topology = await buildLab()
    const { lab, lan1, lan2, far } = topology
    const options = { targets: ['multicast6'], interval: 1000 }
    const farNode = await startNode(lab, far, options)
    const a = await startNode(lab, lan1, options)
    const b = await startNode(lab, lan2, options)
    await waitFor(() => knows(a, b) && knows(b, a), 3000, 'discovery over IPv6 multicast')
    // Discovery without autoConnect: no connection.
    await sleep(1500)
    expect(opened(a)).toEqual([])
    expect(opened(b)).toEqual([])
    expect(discovered(farNode)).toEqual([])
  }, 60_000)

  it('IPv6-only beacons with autoConnect connect over the link-local address they come from', async () => {
    topology = await buildLab()
    const { lab, lan1, lan2 } = topology
    const options = { targets: ['multicast6'], interval: 1000, autoConnect: true }
    const a = await startNode(lab, lan1, options)
    const b = await startNode(lab, lan2, options)
    await waitFor(() => opened(a).includes(b.peerId) && opened(b).includes(a.peerId), 4000, 'connection over IPv6 link-local')
    const bSeenByA = discovered(a).find((p) => p.peerId === b.peerId)
    expect(bSeenByA?.addresses[0]).toMatch(/^tcp:\/\/\[fe80:[0-9a-f:]+%[\w.-]+\]:\d+$/)
  }, 60_000)

  it('loopback mode never leaves the host: nodes on lan1 find each other, lan2 hears nothing', async () => {
    topology = await buildLab()
    const { lab, lan1, lan2 } = topology
    const loopback = { loopback: true, interval: 500 }
    const a1 = await startNode(lab, lan1, loopback)
    const a2 = await startNode(lab, lan1, loopback)
    const b = await startNode(lab, lan2, { interval: 500 })
    await waitFor(() => knows(a1, a2) && knows(a2, a1), 3000, 'same-host discovery')
    // Loopback beacons carry loopback addresses first.
    expect(discovered(a1).find((p) => p.peerId === a2.peerId)?.addresses[0]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
    await sleep(2000)
    expect(discovered(b)).toEqual([])
    // And loopback-mode nodes ignore the LAN host's beacons.
    expect(discovered(a1).some((p) => p.peerId === b.peerId)).toBe(false)
  }, 60_000)
})
