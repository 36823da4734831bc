import type { TLSSocket } from 'node:tls'
import { AuthenticationError, type RemotePeer, type SecurityContext, errorMessage } from '@crust/core'

/**
 * Authenticate the remote end of a finished TLS handshake with the core's
 * auth mode. The TLS layer never rejects on its own (`rejectUnauthorized:
 * false`) so that the refusing side can tell the other why, over the
 * connection, with a GO_AWAY carrying `AUTH_FAILED`. In `ca` mode the chain
 * check node:tls did is read from `socket.authorized`.
 */
export function verifyRemote(socket: TLSSocket, security: SecurityContext, expectedPeerId?: string): RemotePeer {
  if (security.mode === 'ca' && !socket.authorized) {
    const why = errorMessage(socket.authorizationError)
    throw new AuthenticationError(`the remote certificate does not chain to a trusted CA: ${why}`)
  }
  return security.verifyRemote(socket.getPeerX509Certificate()?.raw, expectedPeerId)
}
