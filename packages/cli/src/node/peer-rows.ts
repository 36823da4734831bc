/**
 * A node's connections as plain rows: for the live table, `crust peers`,
 * JSON output and the control socket.
 *
 * @packageDocumentation
 */
import type { Connection } from '@crust/core'
import { type Column, renderTable } from '../render/table.js'
import { formatBytes, formatDuration, formatPeer, formatRtt } from '../render/format.js'

/** One connection, as data. */
export interface PeerRow {
  readonly peerId: string
  /** `tcp`, `quic`, ... */
  readonly transport: string
  /** `inbound` or `outbound`. */
  readonly direction: string
  /** How the path was made: `direct`, `upnp`, `punched`, `relayed`. */
  readonly method: string
  readonly remoteAddress: string
  readonly localAddress: string
  /** The role the peer claimed: `node` or `client`. */
  readonly role: string
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly messagesSent: number
  readonly messagesReceived: number
  /** Last measured round-trip time in ms, when pinged. */
  readonly rtt?: number
  /** When the connection was established (ms since the epoch). */
  readonly openedAt: number
  /** Set when a fallback transport was used: the preferred one and why it lost. */
  readonly fallback?: { readonly from: string; readonly reason: string }
}

/** The row of one connection. */
export function peerRow(connection: Connection): PeerRow {
  const { stats } = connection
  return {
    peerId: connection.peerId,
    transport: connection.transport,
    direction: connection.direction,
    method: connection.method,
    remoteAddress: connection.remoteAddress,
    localAddress: connection.localAddress,
    role: connection.remoteRole,
    bytesSent: stats.bytesSent,
    bytesReceived: stats.bytesReceived,
    messagesSent: stats.messagesSent,
    messagesReceived: stats.messagesReceived,
    ...(stats.rtt === undefined ? {} : { rtt: Math.round(stats.rtt * 1000) / 1000 }),
    openedAt: connection.openedAt,
    ...(connection.fallback === undefined ? {} : { fallback: { from: connection.fallback.from, reason: connection.fallback.reason } }),
  }
}

/** The columns of the peers table. */
export function peerColumns(now: number): Column<PeerRow>[] {
  return [
    { header: 'PEER', cell: (r) => formatPeer(r.peerId) },
    { header: 'TRANSPORT', cell: (r) => (r.fallback ? `${r.transport} (${r.fallback.from} ${r.fallback.reason})` : r.transport) },
    { header: 'DIR', cell: (r) => (r.direction === 'inbound' ? 'in' : 'out') },
    { header: 'METHOD', cell: (r) => r.method },
    { header: 'REMOTE', cell: (r) => r.remoteAddress },
    { header: 'SENT', cell: (r) => formatBytes(r.bytesSent), right: true },
    { header: 'RECEIVED', cell: (r) => formatBytes(r.bytesReceived), right: true },
    { header: 'RTT', cell: (r) => formatRtt(r.rtt), right: true },
    { header: 'UP', cell: (r) => formatDuration(Math.max(0, now - r.openedAt)), right: true },
  ]
}

/** The peers table as lines, or one line saying there are none. */
export function renderPeers(rows: readonly PeerRow[], width?: number, now = Date.now()): string[] {
  if (rows.length === 0) return ['(no connections)']
  return renderTable(peerColumns(now), rows, width)
}
