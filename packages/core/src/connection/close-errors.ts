import {
  AuthenticationError,
  BlacklistedError,
  ConnectionClosedError,
  ConnectionLimitError,
  type CrustError,
  NetworkMismatchError,
  ProtocolError,
  ReachabilityError,
} from '../errors.js'
import { CloseCode, type CloseInfo } from '../transport/types.js'

/**
 * The typed error a caller should see for a connection that closed (or was
 * refused) with `info`. The one mapping from {@link CloseCode} to error class:
 * the core and every transport that reports a refusal use it, so they cannot
 * drift apart.
 *
 * @param info - how the connection closed
 * @param address - when given, prefixes the message (a transport naming the address it dialled)
 */
export function errorFromClose(info: CloseInfo, address?: string): CrustError {
  const by = info.remote ? 'the remote peer' : 'this node'
  const where = address === undefined ? '' : `${address}: `
  const text = `${where}connection closed by ${by}: ${info.reason || 'no reason given'}`
  switch (info.code) {
    case CloseCode.AUTH_FAILED:
      return new AuthenticationError(text, { cause: info.error })
    case CloseCode.BLACKLISTED:
      return new BlacklistedError(text)
    case CloseCode.NETWORK_MISMATCH:
      return new NetworkMismatchError(text)
    case CloseCode.PROTOCOL_ERROR:
      return info.error instanceof ProtocolError ? info.error : new ProtocolError(text, { cause: info.error })
    case CloseCode.UNREACHABLE:
      return new ReachabilityError(text)
    case CloseCode.LIMIT_REACHED:
      return new ConnectionLimitError(text)
    default:
      return new ConnectionClosedError(text, info.code, { cause: info.error })
  }
}
