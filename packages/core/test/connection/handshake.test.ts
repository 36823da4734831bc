import { describe, expect, it } from 'vitest'
import { dialerHandshake, parseHandshake } from '../../src/connection/handshake.js'
import {
  AuthenticationError,
  CloseCode,
  type CloseInfo,
  ProtocolError,
  StreamResetError,
  type TransportConnection,
  type TransportStream,
} from '../../src/index.js'
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

/**
 * A connection whose handshake stream fails with `failure` on its first read,
 * and whose `closed` settles with `close` only when `settle()` is called.
 */
function failingConnection(failure: Error, close: CloseInfo) {
  let settle: () => void = () => {}
  const closed = new Promise<CloseInfo>((resolve) => {
    settle = () => resolve(close)
  })
  const stream = {
    id: 0,
    direction: 'outbound',
    bidirectional: true,
    write: async () => {},
    end: async () => {},
    reset: () => {},
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(failure) }),
  } as unknown as TransportStream
  const connection = {
    id: 'fake',
    transport: 'fake',
    direction: 'outbound',
    remoteAddress: 'fake://remote',
    localAddress: 'fake://local',
    remotePeer: { peerId: 'bciqremote' },
    openStream: async () => stream,
    onStream: () => {},
    close: async () => settle(),
    closed,
  } as unknown as TransportConnection
  return { connection, settle: () => settle() }
}

const dialer = { networkHash: 'ab'.repeat(32), role: 'node', timeoutMs: 2_000, addresses: [] } as const
const refusal: CloseInfo = { code: CloseCode.AUTH_FAILED, reason: 'certificate not trusted', remote: true }

describe('handshake: a refusal is typed however its close and the stream failure are timed', () => {
  it('a stream failure that carries its close is that typed error at once, while `closed` is still pending', async () => {
    const { connection } = failingConnection(new StreamResetError('Stream 0 aborted', 0, true, { closeInfo: refusal }), refusal)
    const started = performance.now()
    await expect(dialerHandshake(connection, dialer)).rejects.toBeInstanceOf(AuthenticationError)
    expect(performance.now() - started).toBeLessThan(500)
  })

  it('a stream failure without it waits for the connection to close, however late (here 400 ms, past the old 200 ms grace)', async () => {
    const { connection, settle } = failingConnection(new StreamResetError('Stream 0 aborted', 0, true), refusal)
    setTimeout(settle, 400)
    await expect(dialerHandshake(connection, dialer)).rejects.toBeInstanceOf(AuthenticationError)
  })

  it('a reset of the handshake stream alone, the connection left open, is reported at the deadline as the reset', async () => {
    const { connection } = failingConnection(new StreamResetError('Stream 0 reset by the remote peer (code 4)', 4, true), refusal)
    const error = await dialerHandshake(connection, { ...dialer, timeoutMs: 300 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamResetError)
  })

  it('a typed failure of the handshake itself (bad input) is reported at once, not replaced by the close', async () => {
    const { connection } = failingConnection(new ProtocolError('handshake is not valid JSON'), refusal)
    await expect(dialerHandshake(connection, dialer)).rejects.toBeInstanceOf(ProtocolError)
  })
})
