import { describe, expect, it } from 'vitest'
import { parseHandshake } from '../../src/connection/handshake.js'
import { ProtocolError } from '../../src/index.js'
import { isConnectionMethod, isDialerMethod } from '../../src/transport/types.js'

const base = { v: 1, network: 'ab'.repeat(32), role: 'node' } as const

describe('handshake: the connection method vocabulary is open but bounded', () => {
  it("accepts core's methods and a plugin's own, in WELCOME's method and HELLO's via", () => {
    for (const method of ['direct', 'upnp', 'punched', 'relayed', 'nat-pmp', 'turn', 'x', `a${'b'.repeat(31)}`]) {
      expect(parseHandshake({ ...base, method }).method).toBe(method)
      expect(parseHandshake({ ...base, via: method }).via).toBe(method)
    }
  })

  it('refuses an oversized or malformed method from a peer', () => {
    const bad = [`a${'b'.repeat(32)}`, 'x'.repeat(100_000), '', 'NAT-PMP', 'nat pmp', '1turn', '-turn', 'turn\n', 'tûrn', 7, null, ['turn']]
    for (const method of bad) {
      expect(() => parseHandshake({ ...base, method })).toThrow(ProtocolError)
      expect(() => parseHandshake({ ...base, via: method })).toThrow(ProtocolError)
    }
  })

  it('isConnectionMethod is the same rule, for plugins to check their names', () => {
    expect(isConnectionMethod('nat-pmp')).toBe(true)
    expect(isConnectionMethod(`a${'b'.repeat(32)}`)).toBe(false)
    expect(isConnectionMethod('Relayed')).toBe(false)
  })

  it('the dialer tells the listener every method but those the listener sees itself (direct, upnp)', () => {
    expect(isDialerMethod('punched')).toBe(true)
    expect(isDialerMethod('relayed')).toBe(true)
    expect(isDialerMethod('turn')).toBe(true)
    expect(isDialerMethod('direct')).toBe(false)
    expect(isDialerMethod('upnp')).toBe(false)
    expect(isDialerMethod(undefined)).toBe(false)
  })
})
