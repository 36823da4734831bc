import type dgram from 'node:dgram'
import { isIPv6 } from 'node:net'
import type { Logger } from '@crust/core'
import { formatAddress, isLoopback, isWildcard, normalizeIp } from '@crust/core/plugin'
import { QUICSocket } from '@crust/quic-lib'
import { errorMessage } from '@crust/core/plugin'
import type { LibraryLogger } from './library-logger.js'
import { assertQuicAvailable } from './library-patch.js'

/** Send errors the library itself handles (an unreachable target fails that dial). */
const HANDLED_SEND_ERRORS = new Set(['EINVAL', 'EADDRNOTAVAIL', 'ENETUNREACH', 'EHOSTUNREACH'])

/**
 * Bind the node's one UDP socket, shared by its server and every outgoing
 * client (so later hole punching sends from the listening port), and harden
 * it, through the socket's hooks (see `@crust/quic-lib`'s README):
 *
 * - throws `QuicUnavailableError` first if QUIC cannot run here (no
 *   native module for this platform);
 * - kernel send/receive buffers enlarged to `bufferSize`: with the default
 *   ~200 KiB a burst of datagrams overflows and is dropped;
 * - datagrams that are not QUIC go to `onForeignDatagram`;
 * - the library's datagram handler rethrows unexpected parse errors; here
 *   they are counted (`onUnparsable`) instead of being unhandled rejections;
 * - any send errno the library does not expect would become an "internal
 *   error" thrown from an event handler (a process crash); here it is a
 *   dropped datagram, which QUIC recovers from;
 * - socket 'error' events are logged instead of being fatal.
 */
export async function startSharedSocket(options: {
  readonly host: string
  readonly port: number
  readonly bufferSize: number
  readonly logger: Logger
  readonly libraryLogger: LibraryLogger
  /** Datagrams that are not QUIC (fixed bit clear): STUN answers, punch packets. */
  readonly onForeignDatagram: (data: Buffer, remote: dgram.RemoteInfo) => void
  /** A datagram the library failed on: counted, not logged per packet. */
  readonly onUnparsable: () => void
}): Promise<QUICSocket> {
  const { logger } = options
  // The library loads its native module on first use: fail here, typed, if there is none.
  assertQuicAvailable()
  const socket = new QUICSocket({
    logger: options.libraryLogger,
    onForeignDatagram: options.onForeignDatagram,
    onMessageError: options.onUnparsable,
    // Called as (msg, port, address) by connections and (msg, offset, length, port, address) by the server.
    onSendError: (error) => {
      const code = (error as { code?: unknown }).code
      if (typeof code === 'string' && HANDLED_SEND_ERRORS.has(code)) return 'throw'
      logger.debug(`UDP send failed: ${errorMessage(error)}`)
      return 'drop'
    },
  })
  // `::` is dual-stack: one socket serves IPv4 (as mapped addresses) and IPv6.
  await socket.start({ host: options.host, port: options.port, ipv6Only: isIPv6(options.host) && options.host !== '::' })
  const udp = socket.udpSocket
  if (udp === undefined) throw new Error('the QUIC socket started without a UDP socket')
  udp.on('error', (error) => logger.warn(`UDP socket: ${error.message}`))
  try {
    udp.setRecvBufferSize(options.bufferSize)
    udp.setSendBufferSize(options.bufferSize)
  } catch (error) {
    logger.info(`cannot enlarge the UDP socket buffers: ${errorMessage(error)}`)
  }
  logger.debug(`UDP buffers: receive ${udp.getRecvBufferSize()} B, send ${udp.getSendBufferSize()} B`)
  return socket
}

/**
 * Our address on `socket` as a peer at `remoteHost` sees it, as far as we
 * know it: a wildcard socket has no single local address, so loopback peers
 * get the loopback address of their family and others the wildcard.
 */
export function localAddressFor(socket: QUICSocket, remoteHost: string): string {
  let host = normalizeIp(socket.host)
  if (isWildcard(host) && isLoopback(remoteHost)) host = isIPv6(normalizeIp(remoteHost)) ? '::1' : '127.0.0.1'
  return formatAddress('quic', host, socket.port)
}
