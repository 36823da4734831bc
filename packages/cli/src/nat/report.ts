/**
 * A NAT diagnosis in plain words.
 *
 * @packageDocumentation
 */
import { parseAddress } from '@crust/core/plugin'
import { describeMapping } from '../node/nat-words.js'
import { formatDuration, formatPeer } from '../render/format.js'
import type { NatDiagnosis } from './diagnose.js'

/** How peers on the internet can reach this machine. */
export type Reachability = 'upnp' | 'public' | 'hole-punching' | 'relay' | 'probably-not' | 'unknown'

/** The verdict and its explanation. */
export function reachability(d: NatDiagnosis): { verdict: Reachability; text: string } {
  if (d.upnp.state === 'mapped') {
    const addresses = d.upnp.mappings.map((m) => m.address).join(', ')
    return { verdict: 'upnp', text: `reachable from the internet through UPnP port mappings (${addresses}), while a node holds them (crust start with "upnp" in services)` }
  }
  if (d.mapping === 'none') return { verdict: 'public', text: 'reachable directly at its public address, unless a firewall blocks the port' }
  if (d.mapping === 'endpoint-independent') {
    return { verdict: 'hole-punching', text: 'not reachable directly from the internet; hole punching (holePunch service) can connect it to peers behind NATs, a relay otherwise' }
  }
  if (d.mapping === 'endpoint-dependent') {
    return { verdict: 'relay', text: 'not reachable directly, and hole punching will rarely work through this NAT: peers reach it through a relay (relay service)' }
  }
  const ipv4 = d.localAddresses.filter((a) => !a.address.includes(':'))
  const publicIps = d.localAddresses.filter((a) => !a.private).map((a) => a.address)
  // The verdict says what the text says: a public address of its own is the `public` case.
  if (publicIps.length > 0) return { verdict: 'public', text: `this machine has a public address (${publicIps.join(', ')}): reachable there directly unless a firewall blocks the port` }
  if (ipv4.length > 0) {
    return {
      verdict: 'probably-not',
      text: 'probably not reachable from the internet: this machine has no public address (only private, documentation or reserved ones) and no UPnP mapping, so it sits behind a NAT (a STUN server or a peer can tell which kind)',
    }
  }
  return { verdict: 'unknown', text: 'unknown: no STUN server or peer was asked' }
}

/** The diagnosis as labelled lines. */
export function renderDiagnosis(d: NatDiagnosis): string {
  const rows: Array<[string, string]> = []
  const local = d.localAddresses.map((a) => `${a.address} (${a.interface}${a.range === 'public' ? '' : `, ${a.range}`})`)
  rows.push(['local addresses', local.length > 0 ? local.join(', ') : 'none beyond loopback'])
  rows.push(['UPnP', upnpWords(d)])
  rows.push(['reflexive address', reflexiveWords(d)])
  rows.push(['NAT type', natTypeWords(d)])
  if (d.peer) rows.push(['peer', peerWords(d)])
  rows.push(['reachability', reachability(d).text])
  const width = Math.max(...rows.map(([label]) => label.length))
  return [`NAT diagnosis from a short-lived node (${formatPeer(d.peerId)}, ${portWords(d.listening)})`, '', ...rows.map(([label, text]) => `  ${label.padEnd(width)}  ${text}`), ''].join('\n')
}

function upnpWords(d: NatDiagnosis): string {
  const { upnp } = d
  switch (upnp.state) {
    case 'mapped': {
      const ports = upnp.mappings.map((m) => `${m.protocol.toUpperCase()} ${m.internalPort} → ${m.address}`).join(', ')
      return `gateway ${upnp.gateway ?? '?'} mapped ${ports}${upnp.externalIp ? `; its external IP is ${upnp.externalIp}` : ''} (test mappings, removed again)`
    }
    case 'unavailable':
      if (upnp.reason?.startsWith('no UPnP gateway answered')) {
        return `No UPnP gateway answered within ${formatDuration(d.upnpTimeout)}: the router has UPnP switched off, or there is no home router in front of this machine (e.g. a server or a cloud VM). No port mappings.`
      }
      return `unavailable: ${upnp.reason ?? 'no gateway'}`
    case 'refused':
      return `the gateway ${upnp.gateway ?? ''} refused to map ports: ${upnp.reason ?? 'no reason given'}`
    default:
      return 'no answer yet (the gateway was still being asked when the diagnosis ended)'
  }
}

function reflexiveWords(d: NatDiagnosis): string {
  if (d.reflexiveAddress) {
    const local = d.localAddresses.some((a) => a.address === parseAddress(d.reflexiveAddress ?? '')?.host)
    const source = d.stunServers.length > 0 ? 'the STUN server' : 'the peer'
    return `${d.reflexiveAddress}: where ${source} sees this node's UDP socket${local ? ' (one of its own addresses: no NAT in between)' : ''}`
  }
  if (d.stunServers.length > 0) return `unknown: ${d.stunError ?? 'the STUN servers did not answer'}`
  return 'unknown: no STUN server was given (--stun host:port) and no peer saw us (--contact peerId@address)'
}

function natTypeWords(d: NatDiagnosis): string {
  if (d.mapping !== 'unknown') return describeMapping(d.mapping)
  if (d.stunServers.length === 0 && d.peer !== undefined) {
    return "unknown: one peer's view does not classify the NAT; STUN servers at two IPs do (--stun host:port, twice)"
  }
  if (d.stunServers.length === 0) {
    return 'cannot tell the NAT type without a STUN server or a peer: pass --stun host:port (two servers at different IPs classify it), or --contact peerId@address'
  }
  if (d.reflexiveAddress) return 'unknown: one STUN answer is not enough to classify it; give a second server at another IP'
  return 'unknown: no STUN server answered'
}

function peerWords(d: NatDiagnosis): string {
  const peer = d.peer
  if (peer === undefined) return ''
  if (peer.error) return `could not reach ${formatPeer(peer.peerId)}: ${peer.error}`
  const seen = Object.values(peer.sawUs).flat()
  return seen.length > 0 ? `${formatPeer(peer.peerId)} sees this node at ${seen.join(', ')}` : `${formatPeer(peer.peerId)} connected but did not say where it sees us`
}

/** `TCP port 40001 and UDP port 40002` from the listen addresses. */
function portWords(listening: readonly string[]): string {
  const ports = new Map<string, number>()
  for (const address of listening) {
    const parsed = parseAddress(address)
    if (parsed) ports.set(parsed.transport === 'quic' ? 'UDP' : parsed.transport.toUpperCase(), parsed.port)
  }
  const words = [...ports].map(([protocol, port]) => `${protocol} port ${port}`)
  return words.length > 0 ? `on ${words.join(' and ')}` : 'listening nowhere'
}
