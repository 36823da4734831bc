import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { IdentityError } from '../../src/errors.js'
import { createCertificateAuthority, issueCertificate } from '../../src/identity/ca.js'
import { createSelfSignedCertificate } from '../../src/identity/certificate.js'
import { peerIdFromPublicKey } from '../../src/identity/peer-id.js'
import { nodeKey } from './helpers.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

function extensionsOf(pem: string) {
  const cert = new x509.X509Certificate(pem)
  return {
    basic: cert.getExtension(x509.BasicConstraintsExtension),
    keyUsage: cert.getExtension(x509.KeyUsagesExtension),
    extKeyUsage: cert.getExtension(x509.ExtendedKeyUsageExtension),
    san: cert.getExtension(x509.SubjectAlternativeNameExtension),
  }
}

describe('self-signed node certificates', () => {
  it('names the peer id, is self-signed, valid from 1 h ago for a year, CA:false, digitalSignature', async () => {
    const key = nodeKey('ed25519')
    const peerId = peerIdFromPublicKey(key)
    const before = Date.now()
    const pem = await createSelfSignedCertificate(key)
    const cert = new X509Certificate(pem)
    expect(cert.subject).toBe(`CN=${peerId}`)
    expect(cert.issuer).toBe(`CN=${peerId}`)
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.checkPrivateKey(key)).toBe(true)
    expect(cert.ca).toBe(false)
    expect(Math.abs(Date.parse(cert.validFrom) - (before - HOUR))).toBeLessThan(5_000)
    expect(Math.abs(Date.parse(cert.validTo) - (before + 365 * DAY))).toBeLessThan(5_000)
    const { basic, keyUsage } = extensionsOf(pem)
    expect(basic?.ca).toBe(false)
    expect(basic?.critical).toBe(true)
    expect(keyUsage?.usages).toBe(x509.KeyUsageFlags.digitalSignature)
    expect(keyUsage?.critical).toBe(true)
  })

  it('uses a random serial and a fresh certificate each time', async () => {
    const key = nodeKey('ed25519')
    const serials = new Set<string>()
    for (let i = 0; i < 5; i++) serials.add(new X509Certificate(await createSelfSignedCertificate(key)).serialNumber)
    expect(serials.size).toBe(5)
  })

  it.each(['ec', 'rsa'] as const)('supports %s keys', async (type) => {
    const key = nodeKey(type)
    const cert = new X509Certificate(await createSelfSignedCertificate(key))
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(peerIdFromPublicKey(cert.publicKey)).toBe(peerIdFromPublicKey(key))
  })

  it('takes a few milliseconds', async () => {
    const key = nodeKey('ed25519')
    await createSelfSignedCertificate(key) // warm-up: module and WebCrypto initialisation
    const runs = 50
    const start = performance.now()
    for (let i = 0; i < runs; i++) await createSelfSignedCertificate(key)
    const average = (performance.now() - start) / runs
    console.info(`Ed25519 self-signed certificate: ${average.toFixed(2)} ms on average over ${runs} runs`)
    expect(average).toBeLessThan(50)
  })
})

describe('certificate authority helpers', () => {
  it.each(['ecdsa-p256', 'ed25519'] as const)('creates a %s root CA', async (keyType) => {
    const ca = await createCertificateAuthority({ name: 'Test CA', keyType })
    const cert = new X509Certificate(ca.certificatePem)
    expect(cert.subject).toBe('CN=Test CA')
    expect(cert.ca).toBe(true)
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.checkPrivateKey(createPrivateKey(ca.privateKeyPem))).toBe(true)
    const { basic, keyUsage } = extensionsOf(ca.certificatePem)
    expect(basic?.critical).toBe(true)
    expect(keyUsage?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)
  })

  it.each(['ed25519', 'ec', 'rsa'] as const)('issues TLS client+server certificates for %s node keys', async (type) => {
    const ca = await createCertificateAuthority({ name: 'Test CA' })
    const caCert = new X509Certificate(ca.certificatePem)
    const key = nodeKey(type)
    const pem = await issueCertificate(ca, { privateKey: key, name: 'node-1', validityDays: 30, altNames: ['node-1.example', '10.0.0.1'] })
    const cert = new X509Certificate(pem)
    expect(cert.subject).toBe('CN=node-1')
    expect(cert.issuer).toBe('CN=Test CA')
    expect(cert.checkIssued(caCert)).toBe(true)
    expect(cert.verify(caCert.publicKey)).toBe(true)
    expect(cert.checkPrivateKey(key)).toBe(true)
    expect(cert.ca).toBe(false)
    expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']))
    expect(cert.subjectAltName).toBe('DNS:node-1.example, IP Address:10.0.0.1')
    expect(Math.abs(Date.parse(cert.validTo) - (Date.now() + 30 * DAY))).toBeLessThan(5_000)
    expect(extensionsOf(pem).keyUsage?.usages).toBe(x509.KeyUsageFlags.digitalSignature)
  })

  it('accepts the public key alone', async () => {
    const ca = await createCertificateAuthority({ name: 'Test CA' })
    const key = nodeKey()
    const cert = new X509Certificate(await issueCertificate(ca, { publicKey: createPublicKey(key), name: 'n' }))
    expect(peerIdFromPublicKey(cert.publicKey)).toBe(peerIdFromPublicKey(key))
  })

  it('refuses a CA key that does not match the CA certificate', async () => {
    const a = await createCertificateAuthority({ name: 'A' })
    const b = await createCertificateAuthority({ name: 'B' })
    const mixed = { certificatePem: a.certificatePem, privateKeyPem: b.privateKeyPem }
    await expect(issueCertificate(mixed, { privateKey: nodeKey(), name: 'n' })).rejects.toBeInstanceOf(IdentityError)
  })
})
