import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NetLab } from './lab.js'

/**
 * Router behaviours of the NAT lab (RFC 4787 terms):
 * - `eim`: endpoint-independent mapping (`masquerade`): hole punching works.
 * - `edm`: endpoint-dependent mapping (`masquerade random`): symmetric, needs a relay.
 * - `upnp`: `eim` plus a real UPnP IGD (miniupnpd) on the LAN side, which also answers PCP and NAT-PMP.
 * - `pcp`: `eim` plus miniupnpd with UPnP off: PCP and NAT-PMP only.
 * Every router filters like a home router: input policy drop, forward only
 * LAN→WAN and established traffic.
 */
export type RouterKind = 'eim' | 'edm' | 'upnp' | 'pcp'

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

/** Options of {@link createNatLab}. */
export interface NatLabOptions {
  /** `gatewayRunning: false` leaves a `upnp` / `pcp` router's miniupnpd stopped (start it with `startGateway`). */
  readonly routers: ReadonlyArray<{ readonly name: string; readonly kind: RouterKind; readonly hosts?: number; readonly gatewayRunning?: boolean }>
  /** Hosts on the internet with no NAT in front (e.g. "a host beyond the router"). */
  readonly outsiders?: number
  /** Start coturn (STUN on 3478/3479 on both public addresses, TURN with long-term credentials). Default true. */
  readonly stun?: boolean
}

const INTERNET_PREFIX = '203.0.113'
const PUBLIC_IP = `${INTERNET_PREFIX}.1`
const PUBLIC_IP_2 = `${INTERNET_PREFIX}.2`
const WAN = 'wan0'
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

function routerRules(kind: RouterKind, lanCidr: string): string {
  const masquerade = kind === 'edm' ? 'masquerade random' : 'masquerade'
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
    oifname "${WAN}" ip saddr ${lanCidr} ${masquerade}
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
      const wanIp = `${INTERNET_PREFIX}.${10 + index}`
      await attach(ns, `${wanIp}/24`, WAN)
      await sysctl(lab, ns, 'net.ipv4.ip_forward', '1')
      const subnet = `10.${index + 1}.0`
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
      await lab.nft(ns, routerRules(spec.kind, lanCidr))
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
