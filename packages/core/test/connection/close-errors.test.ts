import { describe, expect, it } from 'vitest'
import {
  AuthenticationError,
  BlacklistedError,
  CloseCode,
  ConnectionClosedError,
  ConnectionLimitError,
  type CrustError,
  NetworkMismatchError,
  ProtocolError,
  ReachabilityError,
} from '../../src/index.js'
import { errorFromClose } from '../../src/plugin.js'

/** The decided error class of every close code; a new code fails the coverage test until it is added here. */
const expected: Record<CloseCode, abstract new (...args: never[]) => CrustError> = {
  [CloseCode.NORMAL]: ConnectionClosedError,
  [CloseCode.PROTOCOL_ERROR]: ProtocolError,
  [CloseCode.AUTH_FAILED]: AuthenticationError,
  [CloseCode.BLACKLISTED]: BlacklistedError,
  [CloseCode.NETWORK_MISMATCH]: NetworkMismatchError,
  [CloseCode.LIMIT_REACHED]: ConnectionLimitError,
  [CloseCode.IDLE_TIMEOUT]: ConnectionClosedError,
  [CloseCode.DUPLICATE]: ConnectionClosedError,
  [CloseCode.INTERNAL]: ConnectionClosedError,
  [CloseCode.SHUTDOWN]: ConnectionClosedError,
  [CloseCode.HANDSHAKE_TIMEOUT]: ConnectionClosedError,
  [CloseCode.UNREACHABLE]: ReachabilityError,
  [CloseCode.PRUNED]: ConnectionClosedError,
  [CloseCode.PATH_LOST]: ConnectionClosedError,
}

describe('errorFromClose', () => {
  it('has a decided error class for every close code', () => {
    expect(Object.keys(expected).map(Number).sort((a, b) => a - b)).toEqual(
      Object.values(CloseCode).sort((a, b) => a - b),
    )
  })

  for (const [name, code] of Object.entries(CloseCode)) {
    it(`maps ${name} to ${expected[code].name}`, () => {
      const error = errorFromClose({ code, reason: 'why', remote: true })
      expect(error).toBeInstanceOf(expected[code])
      expect(error.message).toBe('connection closed by the remote peer: why')
      if (error instanceof ConnectionClosedError) expect(error.closeCode).toBe(code)
    })
  }

  it('prefixes the address when given and names the closing side', () => {
    const error = errorFromClose({ code: CloseCode.BLACKLISTED, reason: '', remote: false }, '127.0.0.1:4001')
    expect(error.message).toBe('127.0.0.1:4001: connection closed by this node: no reason given')
  })

  it('passes a ProtocolError through and keeps any other cause', () => {
    const violation = new ProtocolError('bad frame')
    expect(errorFromClose({ code: CloseCode.PROTOCOL_ERROR, reason: 'x', remote: true, error: violation })).toBe(violation)
    const cause = new Error('tls')
    expect(errorFromClose({ code: CloseCode.AUTH_FAILED, reason: 'x', remote: true, error: cause }).cause).toBe(cause)
  })
})
