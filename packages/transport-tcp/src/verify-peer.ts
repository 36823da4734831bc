import type { TLSSocket } from 'node:tls'
import { AuthenticationError, type RemotePeer, type SecurityContext, errorMessage } from '@crust/core'

/**
 * Authenticate the remote end of a finished TLS handshake under the node's
 * auth mode. Sockets never reject at the TLS layer (`rejectUnauthorized:
 * false`): a failed chain check in `ca` mode is read from `socket.authorized`
 * instead, so the refusing side can tell the other why over the secured
 * channel (a GO_AWAY with AUTH_FAILED) rather than dropping the socket.
 */
export function verifyPeer(socket: TLSSocket, security: SecurityContext, expectedPeerId?: string): RemotePeer {
  if (security.mode === 'ca' && !socket.authorized) {
    const why = errorMessage(socket.authorizationError)
    throw new AuthenticationError(`the remote certificate does not chain to a trusted CA: ${why}`)
  }
  return security.verifyRemote(socket.getPeerX509Certificate()?.raw, expectedPeerId)
}
