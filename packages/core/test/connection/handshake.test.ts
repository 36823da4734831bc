import { describe, expect, it } from 'vitest'
import { dialerHandshake, handshakeSchema, parseHandshake } from '../../src/connection/handshake.js'
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

describe('handshake: the fast check keeps exactly the schema’s rules', () => {
  const full = {
    v: 1,
    network: 'ab'.repeat(32),
    role: 'client',
    observed: 'quic://127.0.0.1:4001',
    addresses: ['quic://127.0.0.1:4001', 'tcp://[::1]:4002'],
    probe: true,
    target: 'quic://127.0.0.1:4001',
    via: 'punched',
    method: 'direct',
    session: '0123456789abcdef',
    idle: 30_000,
    protocols: ['/chat/1', '/files/2.0'],
    race: '0123456789abcdef.12.3',
  }
  const valid: unknown[] = [base, { ...base, role: 'client' }, full, JSON.parse(JSON.stringify(full)), { race: full.race, ...base, idle: 0 }]
  /** Values at and around each field's limits, and of the wrong kind. */
  const variants: Record<string, unknown[]> = {
    v: [1, 2, '1', true, null, undefined],
    network: ['ab'.repeat(32), 'AB'.repeat(32), 'ab'.repeat(31), `${'ab'.repeat(32)}\n`, 5],
    role: ['node', 'client', 'server', ['node']],
    observed: ['', 'x'.repeat(256), 'x'.repeat(257), 7, undefined],
    addresses: [[], Array(32).fill('a'), Array(33).fill('a'), ['x'.repeat(257)], [1], 'a', [undefined], new Array(2), undefined],
    probe: [true, false, 'true', null],
    target: ['x'.repeat(256), 'x'.repeat(257), {}],
    via: ['punched', 'a'.repeat(32), 'a'.repeat(33), 'Punched', '1a', '', 3],
    method: ['direct', 'relay-v2', 'direct ', null],
    session: ['0123456789abcdef', '0123456789ABCDEF', '0123456789abcde', 16],
    idle: [0, 86_400_000, 86_400_001, -1, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5', 1e21],
    protocols: [[], Array(32).fill('/p'), Array(33).fill('/p'), ['p'], [`/${'a'.repeat(127)}`], [`/${'a'.repeat(128)}`], [5], '/p'],
    race: ['0123456789abcdef.1.1', '0123456789abcdef.1234567890123456.1', '0123456789abcdef.1.1234', 'x'],
    extra: ['anything', undefined],
  }
  const cases: unknown[] = [...valid]
  for (const [key, values] of Object.entries(variants)) for (const value of values) cases.push({ ...full, [key]: value })
  for (const key of Object.keys(full)) {
    const { [key as keyof typeof full]: _gone, ...rest } = full
    cases.push(rest)
  }
  cases.push(
    JSON.parse(`{"__proto__":{"x":1},"v":1,"network":"${'ab'.repeat(32)}","role":"node"}`),
    Object.assign(Object.create(null), base),
    Object.assign(new (class Message {})(), base),
    new Map(Object.entries(base)),
    [base],
    null,
    'hello',
    42,
    undefined,
  )

  it('gives the schema’s output (same fields, same order) or its error message, for valid, edge and broken messages', () => {
    for (const input of cases) {
      const expected = handshakeSchema.safeParse(input)
      if (expected.success) {
        const got = parseHandshake(input)
        expect(got, JSON.stringify(input)).toStrictEqual(expected.data)
        expect(Object.keys(got)).toEqual(Object.keys(expected.data))
        if (got.addresses !== undefined) expect(got.addresses).not.toBe((input as { addresses: unknown }).addresses)
      } else {
        expect(() => parseHandshake(input), JSON.stringify(input)).toThrow(new ProtocolError(`invalid handshake: ${expected.error.issues[0]?.message}`))
      }
    }
    // Both verdicts occur, so the comparison tells something.
    const verdicts = cases.map((input) => handshakeSchema.safeParse(input).success)
    expect(verdicts.filter(Boolean).length).toBeGreaterThan(30)
    expect(verdicts.filter((ok) => !ok).length).toBeGreaterThan(30)
  })
})
