import { type RemoteInfo, type Socket, createSocket } from 'node:dgram'
import { networkInterfaces } from 'node:os'

/** A listener for a gateway's multicast announcements; close it on stop. */
export interface MulticastListener {
  close(): void
}

/** Interface addresses joined at most: enough for any host, bounded against odd ones. */
const MAX_INTERFACES = 8

/**
 * Listen for datagrams sent to `group`:`port` (a gateway's announcements:
 * SSDP NOTIFY on 239.255.255.250:1900, PCP ANNOUNCE on 224.0.0.1:5350),
 * sharing the port with other listeners on the host (`reuseAddr`). Joins the
 * group on each IPv4 interface. Resolves undefined when the port cannot be
 * bound: announcements only speed things up, the periodic checks stay.
 * `onMessage` sees every datagram: it must check the sender and rate-limit.
 */
export async function listenMulticast(options: {
  readonly port: number
  readonly group: string
  readonly onMessage: (message: Buffer, from: RemoteInfo) => void
}): Promise<MulticastListener | undefined> {
  const socket: Socket = createSocket({ type: 'udp4', reuseAddr: true })
  socket.on('message', options.onMessage)
  const bound = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false))
    socket.bind(options.port, () => resolve(true))
  })
  if (!bound) {
    try {
      socket.close()
    } catch {
      // never bound
    }
    return undefined
  }
  socket.on('error', () => {}) // a late socket error only ends the announcements
  const addresses = Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .filter((entry) => entry.family === 'IPv4' && !entry.internal)
    .slice(0, MAX_INTERFACES)
  for (const entry of addresses) {
    try {
      socket.addMembership(options.group, entry.address)
    } catch {
      // already a member (224.0.0.1 is joined by every host), or the interface cannot do multicast
    }
  }
  return {
    close: () => {
      try {
        socket.close()
      } catch {
        // already closed
      }
    },
  }
}
