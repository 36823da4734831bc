import { describe, expect, it } from 'vitest'
import { publishable } from '../src/client.js'
import { RECORD_LIMITS, RecordBook, type RecordFields, type SignedRecord, signRecord, verifyRecord } from '../src/record.js'
import { hashNetworkName, newIdentity } from './helpers.js'

const network = hashNetworkName('record-test')
const identity = newIdentity()
const verify = identity.verify
const fields = (over: Partial<RecordFields> = {}): RecordFields => ({
  network,
  addresses: ['tcp://127.0.0.1:4001', 'quic://127.0.0.1:4001'],
  nat: { stun: 'endpoint-independent' },
  seq: 1,
  expires: Date.now() + 60_000,
  ...over,
})
const options = { verify, network, maxTtl: 120_000 }

/** The record with its payload changed by `edit`, keeping the original signature. */
function altered(signed: SignedRecord, edit: (payload: Record<string, unknown>) => void): SignedRecord {
  const payload = JSON.parse(Buffer.from(signed.payload, 'base64').toString('utf8')) as Record<string, unknown>
  edit(payload)
  return { ...signed, payload: Buffer.from(JSON.stringify(payload)).toString('base64') }
}

describe('signed peer records', () => {
  it('a record verifies and says what was signed', () => {
    const signed = signRecord(identity, fields())
    const record = verifyRecord(signed, options)
    expect(record).toMatchObject({ peerId: identity.peerId, addresses: fields().addresses, nat: { stun: 'endpoint-independent' }, seq: 1 })
    expect(verifyRecord(signed, { ...options, peerId: identity.peerId }).peerId).toBe(identity.peerId)
  })

  it('rejects an altered record (an address changed after signing)', () => {
    const signed = altered(signRecord(identity, fields()), (p) => {
      p.addresses = ['tcp://203.0.113.9:4001']
    })
    expect(() => verifyRecord(signed, options)).toThrow(expect.objectContaining({ reason: 'signature' }))
  })

  it('rejects a forged record: signed by another key than the peer id names', () => {
    const victim = newIdentity()
    const forger = newIdentity()
    const forged = signRecord({ ...forger, peerId: victim.peerId }, fields())
    expect(() => verifyRecord(forged, options)).toThrow(expect.objectContaining({ reason: 'signature' }))
    // The forger's own key in place of the victim's does not help either.
    const swapped = { ...forged, key: Buffer.from(victim.publicKey).toString('base64') }
    expect(() => verifyRecord(swapped, options)).toThrow(expect.objectContaining({ reason: 'signature' }))
  })

  it('rejects expired, too long-lived, other-network and wrong-peer records', () => {
    expect(() => verifyRecord(signRecord(identity, fields({ expires: Date.now() - 1 })), options)).toThrow(expect.objectContaining({ reason: 'expired' }))
    expect(() => verifyRecord(signRecord(identity, fields({ expires: Date.now() + 3_600_000 })), options)).toThrow(
      expect.objectContaining({ reason: 'too-long' }),
    )
    expect(() => verifyRecord(signRecord(identity, fields({ network: hashNetworkName('other') })), options)).toThrow(
      expect.objectContaining({ reason: 'network' }),
    )
    expect(() => verifyRecord(signRecord(identity, fields()), { ...options, peerId: newIdentity().peerId })).toThrow(
      expect.objectContaining({ reason: 'wrong-peer' }),
    )
  })

  it('rejects malformed and oversized input without parsing it', () => {
    for (const input of [undefined, 'x', {}, { payload: 'a', key: 'b' }, { payload: 'A'.repeat(5000), key: '', sig: '' }]) {
      expect(() => verifyRecord(input, options)).toThrow(expect.objectContaining({ reason: 'malformed' }))
    }
  })

  it('encoding is bounded: addresses beyond the limits are left out', () => {
    const many = Array.from({ length: 40 }, (_, i) => `tcp://127.0.0.1:${4000 + i}`)
    const long = Array.from({ length: 16 }, (_, i) => `tcp://${'a'.repeat(200)}.example:${4000 + i}`)
    expect(verifyRecord(signRecord(identity, fields({ addresses: many })), options).addresses).toHaveLength(RECORD_LIMITS.maxAddresses)
    const signed = signRecord(identity, fields({ addresses: long }))
    expect(Buffer.from(signed.payload, 'base64').length).toBeLessThanOrEqual(RECORD_LIMITS.maxPayloadBytes)
    expect(verifyRecord(signed, options).addresses.length).toBeLessThan(16)
    expect(JSON.stringify(signed).length).toBeLessThanOrEqual(RECORD_LIMITS.maxRecordChars)
  })

  it('a record book rejects replays: an older sequence number, or another record with the same one', () => {
    const book = new RecordBook()
    const newer = signRecord(identity, fields({ seq: 10 }))
    const older = signRecord(identity, fields({ seq: 5 }))
    const sameSeq = signRecord(identity, fields({ seq: 10, addresses: ['tcp://127.0.0.1:9'] }))
    expect(book.offer(verifyRecord(newer, options), newer)).toBe('new')
    expect(book.offer(verifyRecord(newer, options), newer)).toBe('same')
    expect(() => book.offer(verifyRecord(older, options), older)).toThrow(expect.objectContaining({ reason: 'replayed' }))
    expect(() => book.offer(verifyRecord(sameSeq, options), sameSeq)).toThrow(expect.objectContaining({ reason: 'replayed' }))
    const newest = signRecord(identity, fields({ seq: 11 }))
    expect(book.offer(verifyRecord(newest, options), newest)).toBe('updated')
    expect(book.get(identity.peerId)?.record.seq).toBe(11)
  })

  it('a record book is bounded', () => {
    const book = new RecordBook(16)
    for (let i = 0; i < 40; i++) {
      const other = newIdentity()
      const signed = signRecord(other, fields())
      book.offer(verifyRecord(signed, options), signed)
    }
    expect(book.size).toBe(16)
  })
})

describe('a record book knows the records it holds', () => {
  it('recognises a held record byte for byte, and nothing else', () => {
    const book = new RecordBook()
    const signed = signRecord(identity, fields({ seq: 20 }))
    expect(book.known(signed)).toBeUndefined()
    book.offer(verifyRecord(signed, options), signed)
    expect(book.known(signed)?.seq).toBe(20)
    expect(book.known({ ...signed })).toBeDefined()
    // The same signature over another payload or with another key is not the held record.
    expect(book.known(altered(signed, (p) => (p.addresses = ['tcp://203.0.113.9:1'])))).toBeUndefined()
    expect(book.known({ ...signed, key: Buffer.from(newIdentity().publicKey).toString('base64') })).toBeUndefined()
    expect(book.known('junk')).toBeUndefined()
    // A newer record replaces it: the old one is no longer known.
    const newer = signRecord(identity, fields({ seq: 21 }))
    book.offer(verifyRecord(newer, options), newer)
    expect(book.known(signed)).toBeUndefined()
    expect(book.known(newer)?.seq).toBe(21)
  })
})

describe('the addresses a node publishes', () => {
  it('leaves out loopback unless there is nothing else, and puts addresses reachable from anywhere first', () => {
    expect(
      publishable(['tcp://127.0.0.1:1', 'tcp://10.1.0.2:1', 'quic://[::1]:2', 'quic://10.1.0.2:2', 'tcp://203.0.113.9:5', 'quic://[fe80::1]:2', 'quic://198.51.100.4:6']),
    ).toEqual(['tcp://203.0.113.9:5', 'quic://198.51.100.4:6', 'tcp://10.1.0.2:1', 'quic://10.1.0.2:2', 'quic://[fe80::1]:2'])
    // Every node on one machine: loopback is all there is, and it is kept.
    expect(publishable(['tcp://127.0.0.1:1', 'quic://127.0.0.1:2'])).toEqual(['tcp://127.0.0.1:1', 'quic://127.0.0.1:2'])
    expect(publishable(['tcp://192.168.1.5:1', 'tcp://172.20.0.1:1', 'tcp://100.70.0.1:1'])).toEqual(['tcp://192.168.1.5:1', 'tcp://172.20.0.1:1', 'tcp://100.70.0.1:1'])
  })
})
