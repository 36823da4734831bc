import { peerIdFromPublicKey } from '@crust/core'
import { formatAddress } from '@crust/core/plugin'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BEACON_MAGIC, decodeBeacon, encodeBeacon } from '../src/wire.js'
import { type BeaconContent, MAX_ADDRESSES, MAX_BEACON_SIZE } from '../src/schema.js'
import { BeaconDecodeError, BeaconEncodeError } from '../src/index.js'
import { hashNetworkName, newIdentity } from './helpers.js'

const identity = newIdentity()

function content(overrides: Partial<BeaconContent> = {}): BeaconContent {
  return {
    type: 'announce',
    networkHash: hashNetworkName('wire-test'),
    timestamp: 1_700_000_000_000,
    nonce: '00112233445566778899aabbccddeeff',
    peerId: identity.peerId,
    publicKey: identity.publicKey,
    addresses: ['tcp://192.168.1.7:4001', 'tcp://[2001:db8::7]:4001', 'quic://192.168.1.7:4001'],
    ...overrides,
  }
}

/** Decode, or return the decode error; anything else thrown fails the property. */
function decodeOrError(bytes: Uint8Array): unknown {
  try {
    return decodeBeacon(bytes)
  } catch (error) {
    if (error instanceof BeaconDecodeError) return error
    throw error
  }
}

const addressArb = fc
  .tuple(fc.constantFrom('tcp', 'quic', 'ws'), fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65535 }))
  .map(([transport, host, port]) => formatAddress(transport, host, port))

const contentArb: fc.Arbitrary<BeaconContent> = fc.record({
  type: fc.constantFrom('query' as const, 'announce' as const),
  networkHash: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
  timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
  peerId: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => peerIdFromPublicKey(b)),
  publicKey: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  addresses: fc.array(addressArb, { maxLength: 8 }),
})

describe('beacon wire format', () => {
  it('round-trips a signed beacon and the signature covers the body', () => {
    const bytes = encodeBeacon(content(), (data) => identity.sign(data))
    expect(Buffer.from(bytes.subarray(0, 4))).toEqual(Buffer.from(BEACON_MAGIC))
    const decoded = decodeBeacon(bytes)
    expect(decoded).toMatchObject({ ...content(), version: 1, publicKey: expect.any(Uint8Array) })
    expect(Buffer.from(decoded.publicKey)).toEqual(Buffer.from(identity.publicKey))
    expect(identity.verify(decoded.peerId, decoded.publicKey, decoded.signed, decoded.signature)).toBe(true)
    expect(bytes.length).toBeLessThan(400)
  })

  it('drops trailing addresses that do not fit the size limit, keeping the first', () => {
    const many = Array.from({ length: MAX_ADDRESSES }, (_, i) => `tcp://[2001:db8:1234:5678:9abc:def0:1234:${i.toString(16)}]:65535`)
    const bytes = encodeBeacon(content({ addresses: many }), (data) => identity.sign(data), 600)
    expect(bytes.length).toBeLessThanOrEqual(600)
    const decoded = decodeBeacon(bytes)
    expect(decoded.addresses.length).toBeGreaterThan(0)
    expect(decoded.addresses).toEqual(many.slice(0, decoded.addresses.length))
  })

  it('refuses to encode invalid content or a beacon that cannot fit', () => {
    const sign = (data: Uint8Array): Uint8Array => identity.sign(data)
    expect(() => encodeBeacon(content({ addresses: ['tcp://example.com:4001'] }), sign)).toThrow(BeaconEncodeError)
    expect(() => encodeBeacon(content({ peerId: 'not-a-peer-id' }), sign)).toThrow(BeaconEncodeError)
    expect(() => encodeBeacon(content({ networkHash: 'abc' }), sign)).toThrow(BeaconEncodeError)
    expect(() => encodeBeacon(content(), () => new Uint8Array(700))).toThrow(BeaconEncodeError)
    expect(() => encodeBeacon(content({ publicKey: new Uint8Array(580) }), () => new Uint8Array(580), 1200)).toThrow(/even without addresses/)
  })

  it('reports each kind of malformed datagram with its reason', () => {
    const good = encodeBeacon(content(), (data) => identity.sign(data))
    const reason = (bytes: Uint8Array): string | undefined => (decodeOrError(bytes) as BeaconDecodeError).reason
    expect(reason(new Uint8Array(MAX_BEACON_SIZE + 1))).toBe('oversized')
    expect(reason(Buffer.from('hello world'))).toBe('magic')
    const badVersion = Uint8Array.from(good)
    badVersion[4] = 9
    expect(reason(badVersion)).toBe('version')
    expect(reason(good.subarray(0, good.length - 1))).toBe('truncated')
    expect(reason(Buffer.concat([good, Buffer.of(0)]))).toBe('truncated')
    const badType = Uint8Array.from(good)
    badType[5] = 7
    expect(reason(badType)).toBe('invalid')
    const badPeerId = Uint8Array.from(good)
    badPeerId[63] = 0x21 // first character of the peer id: no longer a peer id
    expect(reason(badPeerId)).toBe('invalid')
  })

  it('property: arbitrary bytes never throw anything but BeaconDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), (bytes) => {
        const result = decodeOrError(bytes)
        if (!(result instanceof BeaconDecodeError)) expect(result).toMatchObject({ version: 1 })
      }),
      { numRuns: 2000 },
    )
  })

  it('property: bytes behind a valid header never throw anything but BeaconDecodeError', () => {
    const header = Buffer.concat([Buffer.from(BEACON_MAGIC), Buffer.of(1)])
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1300 }), (tail) => {
        decodeOrError(Buffer.concat([header, tail]))
      }),
      { numRuns: 2000 },
    )
  })

  it('property: a valid beacon with bytes changed, cut or extended decodes or fails with BeaconDecodeError', () => {
    const good = encodeBeacon(content(), (data) => identity.sign(data))
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat({ max: good.length }),
        fc.uint8Array({ maxLength: 20 }),
        (edits, cut, extra) => {
          const bytes = Uint8Array.from(good)
          for (const [at, value] of edits) bytes[at] = value
          decodeOrError(Buffer.concat([bytes.subarray(0, cut), extra]))
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('property: encode → decode round-trips any valid content', () => {
    fc.assert(
      fc.property(contentArb, fc.uint8Array({ minLength: 1, maxLength: 256 }), (beacon, signature) => {
        const bytes = encodeBeacon(beacon, () => signature)
        expect(bytes.length).toBeLessThanOrEqual(MAX_BEACON_SIZE)
        const decoded = decodeBeacon(bytes)
        const kept = decoded.addresses.length
        expect(decoded.addresses).toEqual(beacon.addresses.slice(0, kept))
        expect({ ...decoded, addresses: beacon.addresses, signed: undefined }).toEqual({
          ...beacon,
          version: 1,
          publicKey: decoded.publicKey,
          signature: decoded.signature,
          signed: undefined,
        })
        expect(Buffer.from(decoded.publicKey)).toEqual(Buffer.from(beacon.publicKey))
        expect(Buffer.from(decoded.signature)).toEqual(Buffer.from(signature))
        expect(decoded.signed.length).toBe(bytes.length - 2 - signature.length)
      }),
      { numRuns: 500 },
    )
  })
})
