import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NetLab } from './lab.js'

/**
 * Router behaviours of the NAT lab (RFC 4787 terms):
 * - `eim`: endpoint-independent mapping (`masquerade`): hole punching works.
 * - `edm`: endpoint-dependent mapping with random port allocation
 *   (`masquerade random`): symmetric; direct only by birthday probing.
 * - `edm-seq`: endpoint-dependent mapping with sequential port allocation
 *   (UDP: `snat` to the next port of 40000-40999 per new mapping, a `numgen inc`
 *   counter, as cheap CPE routers do): symmetric, but the next port is predictable.
 * - `upnp`: `eim` plus a real UPnP IGD (miniupnpd) on the LAN side, which also answers PCP and NAT-PMP.
 * - `pcp`: `eim` plus miniupnpd with UPnP off: PCP and NAT-PMP only.
 * - `cgn`: a carrier-grade NAT (`eim`) whose "LAN" is the shared address
 *   space 100.64.0.0/10 (RFC 6598); home routers sit behind it with `behind`.
 * Every router filters like a home router: input policy drop, forward only
 * LAN→WAN and established traffic.
 */
export type RouterKind = 'eim' | 'edm' | 'edm-seq' | 'upnp' | 'pcp' | 'cgn'

/** A host in the lab: its namespace and address. */
export interface LabNode {
  readonly ns: string
  readonly ip: string
}

/** A home router and the hosts behind it. */
export interface LabRouter {
  readonly name: string
  readonly kind: RouterKind
  readonly ns: string
  readonly wanIp: string
  readonly lanIp: string
  readonly hosts: readonly LabNode[]
  /** The port-mapping daemon of a `upnp` or `pcp` router (see gateway.ts to stop, start or reboot it). */
  readonly gateway?: LabGateway
}

/** The files of a router's miniupnpd. */
export interface LabGateway {
  readonly config: string
  readonly leaseFile: string
  readonly pidFile: string
}

/** What {@link createNatLab} builds. */
export interface NatLab {
  readonly lab: NetLab
  /** The namespace holding the "internet" bridge. */
  readonly internet: string
  /** The public host: STUN/TURN server and room for a rendezvous or relay node; two addresses for RFC 5780. */
  readonly publicHost: LabNode & { readonly secondIp: string }
  /** Extra hosts directly on the internet (no NAT). */
  readonly outsiders: readonly LabNode[]
  readonly routers: Readonly<Record<string, LabRouter>>
  /** TURN credentials of the coturn server on the public host, when started. */
  readonly turn?: { readonly username: string; readonly password: string; readonly realm: string }
  destroy(): Promise<void>
}

/** One router of a NAT lab and the topology around it. */
export interface RouterSpec {
  readonly name: string
  readonly kind: RouterKind
  /** Hosts behind it (default 1). */
  readonly hosts?: number
  /** The name of an earlier router (usually a `cgn`) whose LAN this router's WAN sits on: double NAT. Default: the internet. */
  readonly behind?: string
  /** Guest network: hosts behind the router cannot reach each other directly (the LAN bridge forwards nothing between them). */
  readonly isolated?: boolean
  /**
   * NAT loopback (RFC 4787 REQ-9 hairpinning): a LAN host sending to the
   * router's public address and a port it mapped for another LAN host reaches
   * that host, from the sender's public address. Endpoint-independent kinds only.
   */
  readonly hairpin?: boolean
  /** UDP conntrack timeout (s): the router forgets an idle UDP mapping after this long (Linux default 30 / 120). */
  readonly udpTimeout?: number
  /** `false` leaves a `upnp` / `pcp` router's miniupnpd stopped (start it with `startGateway`). */
  readonly gatewayRunning?: boolean
}

/** Options of {@link createNatLab}. */
export interface NatLabOptions {
  readonly routers: ReadonlyArray<RouterSpec>
  /** Hosts on the internet with no NAT in front (e.g. "a host beyond the router"). */
  readonly outsiders?: number
  /** Start coturn (STUN on 3478/3479 on both public addresses, TURN with long-term credentials). Default true. */
  readonly stun?: boolean
}

const INTERNET_PREFIX = '203.0.113'
const PUBLIC_IP = `${INTERNET_PREFIX}.1`
const PUBLIC_IP_2 = `${INTERNET_PREFIX}.2`
const WAN = 'wan0'
/** The UDP ports an `edm-seq` router hands out, in turn. */
const SEQ_FIRST_PORT = 40_000
const SEQ_PORTS = 1_000
const LAN = 'lan0'

async function sysctl(lab: NetLab, ns: string, key: string, value: string): Promise<void> {
  await lab.exec(ns, 'sysctl', ['-q', '-w', `${key}=${value}`]).catch(() => {
    // bridge-nf sysctls only exist where br_netfilter is present; elsewhere there is nothing to disable
  })
}

/**
 * Read and drop a daemon's output: unread, its stdio socket fills after some
 * 200 KiB of log lines and the daemon blocks in write (miniupnpd -d logs every
 * request, so after a few dozen it stops answering).
 */
function drainOutput(child: ChildProcess): void {
  child.stdout?.resume()
  child.stderr?.resume()
}

/** Wait until `ns` has a process listening on UDP `port`. */
async function waitForUdp(lab: NetLab, ns: string, port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const out = await lab.exec(ns, 'ss', ['-Hlun', `sport = :${port}`]).catch(() => '')
    if (out.trim()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listening on udp/${port} in ${ns} after ${timeoutMs} ms`)
}

/**
 * NAT loopback for a router's endpoint-independent mappings, as Linux has no
 * hairpinning of masquerade mappings built in: every UDP packet leaving the
 * WAN records its public port → LAN host and port in dynamic maps (entries
 * live as long as the flow, refreshed by each packet); a LAN packet to the
 * router's public address and a recorded port is sent to that host, and the
 * reflected flow leaves the LAN side from the router's public address (the
 * external source RFC 4787 asks for, so replies come back through the router).
 * The reflected flow is let through the router's own forward filter (an
 * accept in another base chain would not override its policy drop).
 */
function hairpinRules(wanIp: string, lanCidr: string, timeoutSeconds: number): string {
  return `
table ip lab_hairpin {
  map host { type inet_service : ipv4_addr; flags dynamic,timeout; timeout ${timeoutSeconds}s; size 4096; }
  map port { type inet_service : inet_service; flags dynamic,timeout; timeout ${timeoutSeconds}s; size 4096; }
  chain learn {
    type filter hook postrouting priority 300; policy accept;
    oifname "${WAN}" ip saddr ${wanIp} update @host { udp sport : ct original ip saddr } update @port { udp sport : ct original proto-src }
  }
  chain reflect {
    type nat hook prerouting priority -90; policy accept;
    iifname "${LAN}" ip daddr ${wanIp} udp dport @host dnat ip to udp dport map @host : udp dport map @port
  }
  chain source {
    type nat hook postrouting priority 90; policy accept;
    oifname "${LAN}" ip saddr ${lanCidr} ct status dnat snat ip to ${wanIp}
  }
}
add rule inet filter forward iifname "${LAN}" oifname "${LAN}" ct status dnat accept
`
}

/** A guest network: the LAN bridge forwards no frame from one host to another (ARP included); the router itself stays reachable. */
const ISOLATION_RULES = `
table bridge lab_isolation {
  chain forward { type filter hook forward priority 0; policy drop; }
}
`

/**
 * The `edm-seq` counter's ports as an nftables map (`0 : 40000, 1 : 40001, ...`).
 * A map, not `numgen ... offset 40000`: nft stores that sum in host byte order
 * where snat reads a port in network order (40000 became 16540, then +256 each).
 */
function sequentialPorts(): string {
  return Array.from({ length: SEQ_PORTS }, (_, i) => `${i} : ${SEQ_FIRST_PORT + i}`).join(', ')
}

/** Whether a router of `kind` runs miniupnpd. */
export function hasGateway(kind: RouterKind): boolean {
  return kind === 'upnp' || kind === 'pcp'
}

/**
 * Start a router's miniupnpd and wait until it listens (SSDP on 1900 for a
 * `upnp` router, PCP / NAT-PMP on 5351 for a `pcp` one).
 */
export async function runGateway(lab: NetLab, ns: string, gateway: LabGateway, kind: RouterKind): Promise<void> {
  // Its own pid file: with the default one a second miniupnpd (another router, another lab) refuses to start.
  drainOutput(lab.spawn(ns, 'miniupnpd', ['-d', '-f', gateway.config, '-P', gateway.pidFile]))
  await waitForUdp(lab, ns, kind === 'upnp' ? 1900 : 5351)
}

function routerRules(kind: RouterKind, lanCidr: string, wanIp: string): string {
  const masquerade = kind === 'edm' ? 'masquerade random' : 'masquerade'
  // Evaluated once per new conntrack entry: every new UDP mapping (any host, any destination) takes the next port.
  const sequential =
    kind === 'edm-seq'
      ? `oifname "${WAN}" ip saddr ${lanCidr} meta l4proto udp snat to ${wanIp}:numgen inc mod ${SEQ_PORTS} map { ${sequentialPorts()} }\n    `
      : ''
  const upnpChains =
    hasGateway(kind)
      ? `
  chain miniupnpd { }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 99; policy accept; jump postrouting_miniupnpd; }`
      : ''
  return `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    ${sequential}oifname "${WAN}" ip saddr ${lanCidr} ${masquerade}
  }
}
table inet filter {${upnpChains}
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iifname "lo" accept
    iifname "${LAN}" accept
    meta l4proto icmp accept
    ${hasGateway(kind) ? 'udp sport { 3478, 3479 } accept' : ''}
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "${LAN}" oifname "${WAN}" accept
    ${hasGateway(kind) ? 'ct status dnat accept\n    jump miniupnpd' : ''}
  }
}
`
}

function miniupnpdConfig(lanIp: string, lanCidr: string, leaseFile: string, upnp: boolean): string {
  return [
    `ext_ifname=${WAN}`,
    `listening_ip=${LAN}`,
    'http_port=5000',
    `enable_upnp=${upnp ? 'yes' : 'no'}`,
    // NAT-PMP and PCP (one switch in miniupnpd); short lifetimes allowed so lab tests see renewals.
    'enable_natpmp=yes',
    'min_lifetime=2',
    'max_lifetime=86400',
    'secure_mode=yes',
    `lease_file=${leaseFile}`,
    'uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b',
    'force_igd_desc_v1=yes',
    // The WAN address is in a reserved range, which miniupnpd refuses unless STUN says it is reachable.
    'ext_perform_stun=yes',
    `ext_stun_host=${PUBLIC_IP}`,
    'ext_stun_port=3478',
    // Daemon uptime: a restarted miniupnpd is a rebooted router, its PCP / NAT-PMP epoch starts again.
    'system_uptime=no',
    `allow 1024-65535 ${lanCidr} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    `# router LAN address ${lanIp}`,
    '',
  ].join('\n')
}

/**
 * Build a NAT lab in network namespaces: an "internet" bridge
 * (203.0.113.0/24), a public host with two addresses running coturn, home
 * routers of the requested kinds with hosts behind them, and optional outside
 * hosts. Requires root, iproute2, nftables, and coturn / miniupnpd when used.
 * Always call `destroy()` (in a finally).
 */
export async function createNatLab(options: NatLabOptions): Promise<NatLab> {
  const lab = NetLab.create()
  try {
    const internet = await lab.addNamespace('inet')
    await lab.exec(internet, 'ip', ['link', 'add', 'br0', 'type', 'bridge'])
    await lab.exec(internet, 'ip', ['link', 'set', 'br0', 'up'])
    await sysctl(lab, internet, 'net.bridge.bridge-nf-call-iptables', '0')
    await sysctl(lab, internet, 'net.bridge.bridge-nf-call-ip6tables', '0')
    await sysctl(lab, internet, 'net.bridge.bridge-nf-call-arptables', '0')
    const attach = async (ns: string, cidr: string, ifname: string): Promise<void> => {
      await lab.bridgePort(internet, 'br0', ns, cidr, ifname)
    }

    const pub = await lab.addNamespace('pub')
    await attach(pub, `${PUBLIC_IP}/24`, 'eth0')
    await lab.exec(pub, 'ip', ['addr', 'add', `${PUBLIC_IP_2}/24`, 'dev', 'eth0'])

    const outsiders: LabNode[] = []
    for (let i = 0; i < (options.outsiders ?? 0); i++) {
      const ns = await lab.addNamespace(`out${i}`)
      const ip = `${INTERNET_PREFIX}.${200 + i}`
      await attach(ns, `${ip}/24`, 'eth0')
      outsiders.push({ ns, ip })
    }

    let turn: NatLab['turn']
    if (options.stun !== false) {
      const dir = mkdtempSync(join(tmpdir(), 'crust-turn-'))
      turn = { username: 'crust', password: 'lab-secret', realm: 'crust.lab' }
      drainOutput(lab.spawn(pub, 'turnserver', [
        '-n',
        `--listening-ip=${PUBLIC_IP}`,
        `--listening-ip=${PUBLIC_IP_2}`,
        `--relay-ip=${PUBLIC_IP}`,
        '--min-port=49152',
        '--max-port=49200',
        '--no-tls',
        '--no-dtls',
        '--no-cli',
        '--lt-cred-mech',
        `--user=${turn.username}:${turn.password}`,
        `--realm=${turn.realm}`,
        `--userdb=${join(dir, 'turn.db')}`,
        `--pidfile=${join(dir, 'turn.pid')}`,
        '--log-file=stdout',
        '--simple-log',
      ]))
      await waitForUdp(lab, pub, 3478)
    }

    const routers: Record<string, LabRouter> = {}
    for (const [index, spec] of options.routers.entries()) {
      const ns = await lab.addNamespace(`r${index}`)
      const upstream = spec.behind === undefined ? undefined : routers[spec.behind]
      if (spec.behind !== undefined && upstream === undefined) throw new Error(`router ${spec.name}: behind '${spec.behind}', which is not an earlier router`)
      let wanIp = `${INTERNET_PREFIX}.${10 + index}`
      if (upstream === undefined) {
        await attach(ns, `${wanIp}/24`, WAN)
      } else {
        // Double NAT: the WAN is a port of the upstream router's LAN, addressed after its hosts.
        wanIp = `${upstream.lanIp.split('.').slice(0, 3).join('.')}.${100 + index}`
        await lab.bridgePort(upstream.ns, LAN, ns, `${wanIp}/24`, WAN)
        await lab.exec(ns, 'ip', ['route', 'add', 'default', 'via', upstream.lanIp])
      }
      await sysctl(lab, ns, 'net.ipv4.ip_forward', '1')
      // A carrier's NAT hands out the shared address space (RFC 6598), not a private range.
      const subnet = spec.kind === 'cgn' ? `100.64.${index + 1}` : `10.${index + 1}.0`
      const lanIp = `${subnet}.1`
      const lanCidr = `${subnet}.0/24`
      // The LAN is a bridge in the router, so several hosts share one segment (as for LAN beacons).
      await lab.exec(ns, 'ip', ['link', 'add', LAN, 'type', 'bridge'])
      await lab.exec(ns, 'ip', ['addr', 'add', `${lanIp}/24`, 'dev', LAN])
      await lab.exec(ns, 'ip', ['link', 'set', LAN, 'up'])
      await sysctl(lab, ns, 'net.bridge.bridge-nf-call-iptables', '0')
      await sysctl(lab, ns, 'net.bridge.bridge-nf-call-ip6tables', '0')
      await sysctl(lab, ns, 'net.bridge.bridge-nf-call-arptables', '0')
      const hosts: LabNode[] = []
      for (let h = 0; h < (spec.hosts ?? 1); h++) {
        const hostNs = await lab.addNamespace(`h${index}x${h}`)
        const ip = `${subnet}.${2 + h}`
        await lab.bridgePort(ns, LAN, hostNs, `${ip}/24`, 'eth0')
        await lab.exec(hostNs, 'ip', ['route', 'add', 'default', 'via', lanIp])
        hosts.push({ ns: hostNs, ip })
      }
      await lab.nft(ns, routerRules(spec.kind, lanCidr, wanIp))
      if (spec.udpTimeout !== undefined) {
        for (const key of ['net.netfilter.nf_conntrack_udp_timeout', 'net.netfilter.nf_conntrack_udp_timeout_stream']) {
          await lab.exec(ns, 'sysctl', ['-q', '-w', `${key}=${spec.udpTimeout}`])
        }
      }
      if (spec.isolated === true) await lab.nft(ns, ISOLATION_RULES)
      if (spec.hairpin === true) {
        if (spec.kind === 'edm' || spec.kind === 'edm-seq') throw new Error(`router ${spec.name}: hairpinning needs an endpoint-independent kind`)
        await lab.nft(ns, hairpinRules(wanIp, lanCidr, spec.udpTimeout ?? 180))
      }
      let gateway: LabGateway | undefined
      if (hasGateway(spec.kind)) {
        const dir = mkdtempSync(join(tmpdir(), 'crust-upnp-'))
        gateway = { config: join(dir, 'miniupnpd.conf'), leaseFile: join(dir, 'leases'), pidFile: join(dir, 'miniupnpd.pid') }
        writeFileSync(gateway.config, miniupnpdConfig(lanIp, lanCidr, gateway.leaseFile, spec.kind === 'upnp'))
        if (spec.gatewayRunning !== false) await runGateway(lab, ns, gateway, spec.kind)
      }
      routers[spec.name] = { name: spec.name, kind: spec.kind, ns, wanIp, lanIp, hosts, ...(gateway === undefined ? {} : { gateway }) }
    }
    return {
      lab,
      internet,
      publicHost: { ns: pub, ip: PUBLIC_IP, secondIp: PUBLIC_IP_2 },
      outsiders,
      routers,
      turn,
      destroy: () => lab.destroy(),
    }
  } catch (error) {
    await lab.destroy()
    throw error
  }
}
