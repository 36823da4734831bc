/**
 * A node's events, as a reporter takes them: data for JSON and a line for
 * people.
 *
 * @packageDocumentation
 */
import type { CrustNode } from '@crust/core'
import { natStatus } from '@crust/nat'
import { messageOf } from '../errors.js'
import { formatPeer } from '../render/format.js'
import { describeMapping, describeUpnp } from './nat-words.js'
import { peerRow } from './peer-rows.js'
import type { Reporter } from './reporter.js'

/** Report `node`'s events to `reporter`; returns a function that stops. */
export function reportNodeEvents(node: CrustNode, reporter: Reporter): () => void {
  const off = [
    node.on('connection:open', ({ connection: c }) => {
      const via = c.fallback ? `, fell back from ${c.fallback.from}: ${c.fallback.reason}` : ''
      reporter.event(
        'connection:open',
        { peer: peerRow(c) },
        `connected ${c.direction === 'inbound' ? 'from' : 'to'} ${formatPeer(c.peerId)} over ${c.transport} (${c.direction}, ${c.method}${via}) ${c.remoteAddress}`,
      )
    }),
    node.on('connection:close', (e) => {
      const who = e.remote ? 'by the peer' : 'by us'
      reporter.event(
        'connection:close',
        { peerId: e.peerId, code: e.code, reason: e.reason, remote: e.remote },
        `disconnected from ${formatPeer(e.peerId)} (${e.reason || `code ${e.code}`}, ${who})`,
      )
    }),
    node.on('connection:fallback', (e) => {
      reporter.event(
        'connection:fallback',
        { peerId: e.peerId, from: e.from, to: e.to, reason: e.reason },
        `${formatPeer(e.peerId)}: ${e.from} ${e.reason}, fell back to ${e.to}`,
      )
    }),
    node.on('connection:rejected', (e) => {
      reporter.event(
        'connection:rejected',
        { direction: e.direction, remoteAddress: e.remoteAddress, peerId: e.peerId, error: messageOf(e.error) },
        `refused ${e.direction} connection ${e.peerId ? `with ${formatPeer(e.peerId)} ` : ''}(${e.remoteAddress}): ${messageOf(e.error)}`,
      )
    }),
    node.on('peer:discovered', (e) => {
      reporter.event('peer:discovered', { peerId: e.peerId, addresses: e.addresses, via: e.via }, `discovered ${formatPeer(e.peerId)} via ${e.via}: ${e.addresses.join(', ')}`)
    }),
    node.on('bootstrap:joined', (e) => {
      reporter.event('bootstrap:joined', { peerId: e.peerId, source: e.source }, `joined the network through ${formatPeer(e.peerId)} (from ${e.source})`)
    }),
    node.on('nat:change', (change) => {
      // The JSON line keeps its `status` as `@crust/nat`'s NatStatus, as before reports were open.
      const status = natStatus(change.status)
      const parts = [
        ...(status.reflexiveAddress ? [`seen as ${status.reflexiveAddress}`] : []),
        ...(status.mapping === 'unknown' ? [] : [describeMapping(status.mapping)]),
        ...(status.upnp.state === 'unknown' ? [] : [`UPnP ${describeUpnp(status.upnp)}`]),
      ]
      const line = `NAT: ${parts.join('; ') || 'unknown'}`
      reporter.event('nat:change', { status }, line)
    }),
    node.on('service:event', (e) => {
      // `type` is the JSON line's own key: the service's event type goes in `what`.
      reporter.event('service:event', { service: e.service, what: e.type, message: e.message, peerId: e.peerId }, `${e.service}: ${e.message}`)
    }),
    node.on('blacklist:change', (e) => {
      reporter.event('blacklist:change', { change: e.type, kind: e.kind, entry: e.entry }, `blacklist: ${e.type === 'add' ? 'added' : 'removed'} ${e.kind} ${e.entry}`)
    }),
    node.on('address:conflict', (e) => {
      reporter.event('address:conflict', { ...e }, `peers disagree about our ${e.transport} address: ${e.addresses.join(', ')}`)
    }),
    node.on('error', (e) => {
      reporter.event('error', { context: e.context, peerId: e.peerId, error: messageOf(e.error) }, `error (${e.context}): ${messageOf(e.error)}`)
    }),
  ]
  return () => {
    for (const unsubscribe of off) unsubscribe()
  }
}
