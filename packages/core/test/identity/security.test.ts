import { describe, expect, it, beforeAll, vi } from 'vitest'
import { X509Certificate } from 'node:crypto'
import { AuthenticationError, IdentityError } from '../../src/errors.js'
import { createCertificateAuthority, type CertificateAuthority } from '../../src/identity/ca.js'
import { createSelfSignedCertificate } from '../../src/identity/certificate.js'
import { CertificateFactsCache } from '../../src/identity/certificate-facts.js'
import { createIdentity, type NodeIdentity } from '../../src/identity/identity.js'
import { createSecurityContext, tlsOptionsFor, type VerifiableTlsSocket, verifyTlsPeer } from '../../src/identity/security.js'
import { caIssuedIdentity } from './helpers.js'

const DAY = 86_400_000
const der = (pem: string): Uint8Array => new X509Certificate(pem).raw

describe('createSecurityContext', () => {
  let self: NodeIdentity
  let other: NodeIdentity
  let ca: CertificateAuthority
  let issued: NodeIdentity

  beforeAll(async () => {
    self = (await createIdentity()).identity
    other = (await createIdentity()).identity
    ca = await createCertificateAuthority({ name: 'Test CA' })
    issued = await caIssuedIdentity(ca, 'ec')
  })

  it('exposes the identity and the mode; CAs only in ca mode', () => {
    const security = createSecurityContext(self, { mode: 'peer-id', ca: [ca.certificatePem] })
    expect(security).toMatchObject({ mode: 'peer-id', peerId: self.peerId, certificatePem: self.certificatePem, privateKeyPem: self.privateKeyPem, ca: [] })
    expect(createSecurityContext(issued, { mode: 'ca', ca: [ca.certificatePem] }).ca).toEqual([ca.certificatePem])
  })

  it('refuses ca mode without a CA (node:tls would trust the public web roots)', () => {
    expect(() => createSecurityContext(issued, { mode: 'ca', ca: [] })).toThrow(IdentityError)
    expect(() => createSecurityContext(issued, { mode: 'ca' })).toThrow(IdentityError)
  })

  it.each(['none', 'peer-id', 'ca'] as const)('%s: a missing or unparsable certificate is an AuthenticationError', (mode) => {
    const security = createSecurityContext(self, { mode, ca: [ca.certificatePem] })
    expect(() => security.verifyRemote(undefined)).toThrow(AuthenticationError)
    expect(() => security.verifyRemote(new Uint8Array())).toThrow(AuthenticationError)
    expect(() => security.verifyRemote(Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x00]))).toThrow(/cannot be parsed/)
  })

  it('peer-id: derives the id from a self-signed certificate and checks the expected id', () => {
    const security = createSecurityContext(self, { mode: 'peer-id' })
    const certificate = der(other.certificatePem)
    expect(security.verifyRemote(certificate)).toEqual({ peerId: other.peerId, certificate })
    expect(security.verifyRemote(certificate, other.peerId).peerId).toBe(other.peerId)
    expect(() => security.verifyRemote(certificate, self.peerId)).toThrow(
      new AuthenticationError(`Expected peer ${self.peerId} but the certificate belongs to ${other.peerId}`),
    )
  })

  it('peer-id: rejects a certificate that is not self-signed', () => {
    const security = createSecurityContext(self, { mode: 'peer-id' })
    expect(() => security.verifyRemote(der(issued.certificatePem))).toThrow(/not self-signed/)
  })

  it('peer-id: rejects an expired or not yet valid certificate', async () => {
    const security = createSecurityContext(self, { mode: 'peer-id' })
    const now = Date.now()
    const expired = await createSelfSignedCertificate(other.privateKey, { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) })
    const future = await createSelfSignedCertificate(other.privateKey, { notBefore: new Date(now + DAY), notAfter: new Date(now + 10 * DAY) })
    expect(() => security.verifyRemote(der(expired), other.peerId)).toThrow(/not valid now/)
    expect(() => security.verifyRemote(der(future), other.peerId)).toThrow(/not valid now/)
  })

  it('peer-id: a certificate seen before is still checked against the clock and the expected id', async () => {
    const security = createSecurityContext(self, { mode: 'peer-id' })
    const now = Date.now()
    const pem = await createSelfSignedCertificate(other.privateKey, { notBefore: new Date(now - DAY), notAfter: new Date(now + DAY) })
    expect(security.verifyRemote(der(pem), other.peerId).peerId).toBe(other.peerId) // now remembered
    expect(() => security.verifyRemote(der(pem), self.peerId)).toThrow(/Expected peer/)
    expect(() => security.verifyRemote(der(issued.certificatePem))).toThrow(/not self-signed/)
    expect(() => security.verifyRemote(der(issued.certificatePem))).toThrow(/not self-signed/) // remembered as such
    vi.useFakeTimers({ now: now + 2 * DAY, toFake: ['Date'] })
    try {
      expect(() => security.verifyRemote(der(pem), other.peerId)).toThrow(/not valid now/)
    } finally {
      vi.useRealTimers()
    }
    expect(security.verifyRemote(der(pem), other.peerId).peerId).toBe(other.peerId)
  })

  it('remembers a bounded number of certificates, least recently used dropped first', async () => {
    const cache = new CertificateFactsCache(2, true)
    const [a, b, c] = [der(self.certificatePem), der(other.certificatePem), der(issued.certificatePem)]
    const first = cache.get(a)
    expect(first).toMatchObject({ peerId: self.peerId, selfSigned: true })
    expect(cache.get(a)).toBe(first) // from the cache
    cache.get(b)
    cache.get(a) // a is now the most recently used
    expect(cache.get(c)).toMatchObject({ peerId: issued.peerId, selfSigned: false })
    expect(cache.size).toBe(2)
    expect(cache.get(a)).toBe(first) // b was dropped, not a
    expect(() => cache.get(Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x00]))).toThrow()
    expect(cache.size).toBe(2) // what does not parse is not remembered
  })

  it('ca: derives the id from the certificate key and checks the expected id', () => {
    const security = createSecurityContext(issued, { mode: 'ca', ca: [ca.certificatePem] })
    const certificate = der(issued.certificatePem)
    expect(security.verifyRemote(certificate, issued.peerId).peerId).toBe(issued.peerId)
    expect(() => security.verifyRemote(certificate, self.peerId)).toThrow(AuthenticationError)
  })

  it('none: accepts any certificate and ignores the expected id', () => {
    const security = createSecurityContext(self, { mode: 'none' })
    expect(security.verifyRemote(der(issued.certificatePem), self.peerId).peerId).toBe(issued.peerId)
    expect(security.verifyRemote(der(other.certificatePem), self.peerId).peerId).toBe(other.peerId)
  })
})

describe('verifyTlsPeer', () => {
  let self: NodeIdentity
  let ca: CertificateAuthority
  let issued: NodeIdentity

  beforeAll(async () => {
    self = (await createIdentity()).identity
    ca = await createCertificateAuthority({ name: 'Test CA' })
    issued = await caIssuedIdentity(ca, 'ec')
  })

  /** What a finished TLS handshake left on the socket: node:tls's chain verdict and the peer certificate. */
  const socketOf = (certificatePem: string, authorized: boolean, authorizationError?: unknown): VerifiableTlsSocket =>
    ({
      authorized,
      authorizationError,
      getPeerX509Certificate: () => new X509Certificate(certificatePem),
    }) as VerifiableTlsSocket

  it('ca: refuses a socket whose chain node:tls did not authorise, naming its reason', () => {
    const security = createSecurityContext(issued, { mode: 'ca', ca: [ca.certificatePem] })
    const socket = socketOf(issued.certificatePem, false, new Error('UNABLE_TO_VERIFY_LEAF_SIGNATURE'))
    expect(() => verifyTlsPeer(socket, security)).toThrow(AuthenticationError)
    expect(() => verifyTlsPeer(socket, security)).toThrow(/does not chain to a trusted CA: UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
    // A non-Error reason (node:tls has given strings) is still named.
    expect(() => verifyTlsPeer(socketOf(issued.certificatePem, false, 'SELF_SIGNED'), security)).toThrow(/SELF_SIGNED/)
  })

  it('ca: an authorised socket goes on to verifyRemote, expected peer id included', () => {
    const security = createSecurityContext(issued, { mode: 'ca', ca: [ca.certificatePem] })
    const socket = socketOf(issued.certificatePem, true)
    expect(verifyTlsPeer(socket, security, issued.peerId).peerId).toBe(issued.peerId)
    expect(() => verifyTlsPeer(socket, security, self.peerId)).toThrow(AuthenticationError)
  })

  it('peer-id and none: the chain verdict is ignored; the certificate alone decides', () => {
    const peerId = createSecurityContext(issued, { mode: 'peer-id' })
    expect(verifyTlsPeer(socketOf(self.certificatePem, false), peerId, self.peerId).peerId).toBe(self.peerId)
    expect(() => verifyTlsPeer(socketOf(issued.certificatePem, true), peerId)).toThrow(AuthenticationError) // not self-signed
    const none = createSecurityContext(self, { mode: 'none' })
    expect(verifyTlsPeer(socketOf(issued.certificatePem, false), none, self.peerId).peerId).toBe(issued.peerId)
  })

  it('a socket without a peer certificate is an AuthenticationError', () => {
    const security = createSecurityContext(self, { mode: 'peer-id' })
    const bare = { authorized: true, authorizationError: undefined, getPeerX509Certificate: () => undefined } as unknown as VerifiableTlsSocket
    expect(() => verifyTlsPeer(bare, security)).toThrow(AuthenticationError)
  })
})

describe('tlsOptionsFor', () => {
  it('gives TLS 1.3 options, chain checks and CAs only in ca mode', async () => {
    const { identity } = await createIdentity()
    const ca = await createCertificateAuthority({ name: 'Test CA' })
    const peer = createSecurityContext(identity, { mode: 'peer-id' })
    const server = tlsOptionsFor(peer, 'server')
    expect(server).toEqual({
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      cert: identity.certificatePem,
      key: identity.privateKeyPem,
      requestCert: true,
      rejectUnauthorized: false,
    })
    const client = tlsOptionsFor(peer, 'client')
    expect(client).toMatchObject({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', rejectUnauthorized: false })
    expect(client).not.toHaveProperty('ca')
    expect(client).not.toHaveProperty('requestCert')
    expect(client.checkServerIdentity?.('203.0.113.5', {} as never)).toBeUndefined()

    const caMode = createSecurityContext(identity, { mode: 'ca', ca: [ca.certificatePem] })
    expect(tlsOptionsFor(caMode, 'server')).toMatchObject({ rejectUnauthorized: true, requestCert: true, ca: [ca.certificatePem] })
    expect(tlsOptionsFor(caMode, 'client')).toMatchObject({ rejectUnauthorized: true, ca: [ca.certificatePem] })
    expect(tlsOptionsFor(createSecurityContext(identity, { mode: 'none' }), 'server').rejectUnauthorized).toBe(false)
  })
})
