/**
 * Network events on a running NAT lab, as real networks produce them: a
 * router that replaces its NAT mappings (new public ports), random loss on a
 * WAN link, a short UDP conntrack timeout, a host that vanishes without a FIN.
 * Each is one small call; the lab's teardown removes them all with the namespaces.
 */
import type { LabRouter, NatLab } from './nat-lab.js'

const WAN = 'wan0'

/** Port range of the n-th remapping: 20000–20999, 21000–21999, ... (never the hosts' own ports, so masquerade cannot preserve them). */
function remapRange(generation: number): [number, number] {
  const first = 20_000 + (generation % 40) * 1_000
  return [first, first + 999]
}

const generations = new WeakMap<LabRouter, number>()

/**
 * Replace the router's NAT mappings, as a home router does after a reboot or a
 * lease change: new flows are translated into a fresh port range (keeping the
 * router's kind: endpoint-independent stays so) and every conntrack entry is
 * flushed, so the next packet of an existing flow gets a new public port and
 * packets to the old port are dropped by the input chain. Needs the
 * `conntrack` tool (Debian package `conntrack`). Returns the new port range.
 */
export async function remapNat(lab: NatLab, router: LabRouter): Promise<[number, number]> {
  const generation = (generations.get(router) ?? 0) + 1
  generations.set(router, generation)
  const [first, last] = remapRange(generation)
  const lanCidr = `${router.lanIp.split('.').slice(0, 3).join('.')}.0/24`
  const random = router.kind === 'edm' ? ' random' : ''
  await lab.lab.nft(
    router.ns,
    [
      'flush chain ip nat postrouting',
      // A port range needs a transport match; anything else (ICMP) keeps the plain rule.
      `add rule ip nat postrouting oifname "${WAN}" ip saddr ${lanCidr} meta l4proto { tcp, udp } masquerade to :${first}-${last}${random}`,
      `add rule ip nat postrouting oifname "${WAN}" ip saddr ${lanCidr} masquerade${random}`,
      '',
    ].join('\n'),
  )
  await flushConntrack(lab, router)
  return [first, last]
}

/** Delete every conntrack entry of the router (its NAT mappings and its stateful filter's state). */
export async function flushConntrack(lab: NatLab, router: LabRouter): Promise<void> {
  // `conntrack -F` prints a summary on stderr and exits 0; an empty table is fine too.
  await lab.lab.exec(router.ns, 'conntrack', ['-F'])
}

/**
 * Drop `percent` % of the packets crossing the router's WAN link, each way,
 * at random (nftables `numgen`; `tc netem` is not available in these kernels).
 * 0 removes the loss.
 */
export async function setWanLoss(lab: NatLab, router: LabRouter, percent: number): Promise<void> {
  await lab.lab.nft(router.ns, 'table inet lab_loss { }\ndelete table inet lab_loss\n')
  if (percent <= 0) return
  await lab.lab.nft(
    router.ns,
    `table inet lab_loss {
  chain pre { type filter hook prerouting priority -400; policy accept; iifname "${WAN}" numgen random mod 100 < ${percent} drop; }
  chain post { type filter hook postrouting priority 400; policy accept; oifname "${WAN}" numgen random mod 100 < ${percent} drop; }
}
`,
  )
}

/**
 * Set the router's UDP conntrack timeouts (seconds), unreplied and assured
 * ("stream") alike, so its NAT mappings expire after `seconds` of silence as a
 * stingy home router's do. The sysctl is per network namespace. Applies to
 * entries refreshed after the call.
 */
export async function setUdpTimeout(lab: NatLab, router: LabRouter, seconds: number): Promise<void> {
  for (const key of ['net.netfilter.nf_conntrack_udp_timeout', 'net.netfilter.nf_conntrack_udp_timeout_stream']) {
    await lab.lab.exec(router.ns, 'sysctl', ['-q', '-w', `${key}=${seconds}`])
  }
}

/** Read the router's UDP conntrack timeouts (seconds): `[unreplied, stream]`. */
export async function udpTimeouts(lab: NatLab, router: LabRouter): Promise<[number, number]> {
  const read = async (key: string): Promise<number> => Number((await lab.lab.exec(router.ns, 'sysctl', ['-n', key])).trim())
  return [await read('net.netfilter.nf_conntrack_udp_timeout'), await read('net.netfilter.nf_conntrack_udp_timeout_stream')]
}

/**
 * Cut a host (any namespace) off the network without telling anyone: every
 * packet in or out, except on loopback, is dropped; no FIN, no RST, no ICMP.
 * Its processes keep running. `false` restores it.
 */
export async function blackhole(lab: NatLab, ns: string, on = true): Promise<void> {
  await lab.lab.nft(ns, 'table inet lab_blackhole { }\ndelete table inet lab_blackhole\n')
  if (!on) return
  await lab.lab.nft(
    ns,
    `table inet lab_blackhole {
  chain in { type filter hook input priority -400; policy drop; iifname "lo" accept; }
  chain out { type filter hook output priority -400; policy drop; oifname "lo" accept; }
}
`,
  )
}
