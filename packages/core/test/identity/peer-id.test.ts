import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { base32Decode, base32Encode } from '../../src/identity/base32.js'
import { createSelfSignedCertificate } from '../../src/identity/certificate.js'
import { isPeerId, PEER_ID_PREFIX, peerIdFromPublicKey, shortPeerId } from '../../src/identity/peer-id.js'

// Ed25519 key with seed 00 01 .. 1f; the expected id was computed independently
// (Python hashlib + base64.b32encode) from this SPKI.
const FIXED_SEED = Buffer.from([...Array(32).keys()])
const FIXED_SPKI_HEX = '302a300506032b657003210003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8'
const FIXED_PEER_ID = 'bciqkauedpwcqobmczt3tssyjrcchzqyszoeclg4jjcm7n4rzz4lzdji'

const fixedKey = () =>
  createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), FIXED_SEED]),
    format: 'der',
    type: 'pkcs8',
  })

describe('peer ids', () => {
  it('matches a known vector', () => {
    const key = fixedKey()
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('hex')).toBe(FIXED_SPKI_HEX)
    expect(peerIdFromPublicKey(key)).toBe(FIXED_PEER_ID)
    expect(peerIdFromPublicKey(Buffer.from(FIXED_SPKI_HEX, 'hex'))).toBe(FIXED_PEER_ID)
  })

  it('is a multibase base32 sha2-256 multihash of the SPKI DER', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const id = peerIdFromPublicKey(privateKey)
    expect(id).toHaveLength(56)
    expect(id.startsWith(PEER_ID_PREFIX)).toBe(true)
    const bytes = base32Decode(id.slice(1))
    expect(bytes[0]).toBe(0x12)
    expect(bytes[1]).toBe(0x20)
    const spki = publicKey.export({ type: 'spki', format: 'der' })
    expect(Buffer.from(bytes.subarray(2))).toEqual(createHash('sha256').update(spki).digest())
  })

  it('is stable: private key, public key, SPKI bytes and certificate give the same id', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const id = peerIdFromPublicKey(privateKey)
    expect(peerIdFromPublicKey(privateKey)).toBe(id)
    expect(peerIdFromPublicKey(publicKey)).toBe(id)
    expect(peerIdFromPublicKey(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })))).toBe(id)
    const cert = new X509Certificate(await createSelfSignedCertificate(privateKey))
    expect(peerIdFromPublicKey(cert.publicKey)).toBe(id)
  })

  it('differs between keys', () => {
    const ids = new Set(Array.from({ length: 50 }, () => peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey)))
    expect(ids.size).toBe(50)
  })

  it('works for ECDSA and RSA keys', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    for (const { privateKey, publicKey } of [ec, rsa]) {
      const id = peerIdFromPublicKey(privateKey)
      expect(isPeerId(id)).toBe(true)
      expect(peerIdFromPublicKey(publicKey)).toBe(id)
    }
    expect(peerIdFromPublicKey(ec.publicKey)).not.toBe(peerIdFromPublicKey(rsa.publicKey))
  })

  it('isPeerId accepts ids and rejects malformed text', () => {
    const id = peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey)
    expect(isPeerId(id)).toBe(true)
    expect(isPeerId(FIXED_PEER_ID)).toBe(true)
    const sha1Multihash = 'b' + base32Encode(Uint8Array.from([0x11, 0x14, ...new Uint8Array(20)]))
    const shortDigest = 'b' + base32Encode(Uint8Array.from([0x12, 0x20, ...new Uint8Array(31)]))
    // The last character carries 3 padding bits; 'j' (9) sets one of them.
    const nonCanonical = FIXED_PEER_ID.slice(0, -1) + 'j'
    for (const bad of ['', 'b', id.toUpperCase(), 'B' + id.slice(1), 'z' + id.slice(1), id.slice(0, -1), id + 'a', id + '=', sha1Multihash, shortDigest, nonCanonical]) {
      expect(isPeerId(bad), bad).toBe(false)
    }
    expect(isPeerId(42)).toBe(false)
    expect(isPeerId(undefined)).toBe(false)
  })

  it('shortPeerId gives 10 distinguishing characters after the constant prefix', () => {
    const a = peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey)
    const b = peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey)
    expect(shortPeerId(a)).toHaveLength(10)
    expect(a.slice(PEER_ID_PREFIX.length).startsWith(shortPeerId(a))).toBe(true)
    expect(shortPeerId(a)).not.toBe(shortPeerId(b))
    expect(shortPeerId('hello')).toBe('hello')
  })
})
