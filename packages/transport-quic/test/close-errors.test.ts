import { CloseCode, ConnectionClosedError, ProtocolError } from '@crust/core'
import { errorFromClose } from '@crust/core/plugin'
import { describe, expect, it } from 'vitest'
import { cryptoError, encodeRefusal, TlsAlert } from '../src/codes.js'
import { handshakeFailure } from '../src/failures.js'

/** A library error carrying a QUIC CONNECTION_CLOSE, as `@matrixai/quic` reports one. */
function closedWith(isApp: boolean, errorCode: number, reason: Uint8Array): Error {
  return Object.assign(new Error('closed'), { data: { isApp, errorCode, reason } })
}

const address = '127.0.0.1:4001'

describe('QUIC close → typed error', () => {
  for (const [name, code] of Object.entries(CloseCode)) {
    const local = { code, reason: 'why', remote: false }
    const core = errorFromClose(local, address)

    it(`maps an application close with ${name} like the core`, () => {
      const error = handshakeFailure(address, closedWith(true, code, Buffer.from('why')), 'dial', 1000)
      expect(error.constructor).toBe(core.constructor)
      expect(error.message).toBe(core.message)
      if (error instanceof ConnectionClosedError) expect(error.closeCode).toBe(code)
    })

    it(`maps a pre-handshake refusal with ${name} like the core`, () => {
      const error = handshakeFailure(address, closedWith(false, 0x2, encodeRefusal(code, 'why')), 'accept', 1000)
      expect(error.constructor).toBe(core.constructor)
      expect(error.message).toBe(core.message)
    })
  }

  it('maps a TLS alert to the core error of AUTH_FAILED', () => {
    const error = handshakeFailure(address, closedWith(false, cryptoError(TlsAlert.UNKNOWN_CA), new Uint8Array()), 'dial', 1000)
    expect(error.constructor).toBe(errorFromClose({ code: CloseCode.AUTH_FAILED, reason: '', remote: false }).constructor)
  })

  it('names a close for no common ALPN a ProtocolError on either side, not an authentication failure', () => {
    const alert = cryptoError(TlsAlert.NO_APPLICATION_PROTOCOL)
    const dialler = handshakeFailure(address, closedWith(false, alert, new Uint8Array()), 'dial', 1000)
    expect(dialler).toBeInstanceOf(ProtocolError)
    expect(dialler.message).toMatch(/no common application protocol \(ALPN\)/)
    const listener = handshakeFailure(address, closedWith(false, alert, new Uint8Array()), 'accept', 1000)
    expect(listener).toBeInstanceOf(ProtocolError)
  })
})
