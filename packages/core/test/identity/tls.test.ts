import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AuthenticationError } from '../../src/errors.js'
import { createCertificateAuthority, type CertificateAuthority } from '../../src/identity/ca.js'
import { createIdentity, loadCaFiles, loadCaIdentity, type NodeIdentity } from '../../src/identity/identity.js'
import { createSecurityContext, tlsOptionsFor, type AuthMode } from '../../src/identity/security.js'
import type { SecurityContext } from '../../src/transport/types.js'
import { caIssuedIdentity } from './helpers.js'
import { handshake, NoOutcomeError, remoteCertificate, type Handshake } from './tls-harness.js'

const open: Handshake[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()))
})

async function run(server: SecurityContext, client: SecurityContext): Promise<Handshake> {
  const result = await handshake(tlsOptionsFor(server, 'server'), tlsOptionsFor(client, 'client'))
  open.push(result)
  return result
}

function expectConnected(h: Handshake): void {
  expect(h.server.error).toBeUndefined()
  expect(h.client.error).toBeUndefined()
  expect(h.server.socket?.getProtocol()).toBe('TLSv1.3')
  expect(h.client.socket?.getProtocol()).toBe('TLSv1.3')
}

/** Both sides saw the handshake fail (a hang that ran into the harness's timeout does not count). */
function expectRefused(h: Handshake): void {
  expect(h.server.socket).toBeUndefined()
  expect(h.server.error).toBeInstanceOf(Error)
  expect(h.server.error).not.toBeInstanceOf(NoOutcomeError)
  expect(h.client.socket).toBeUndefined()
  expect(h.client.error).toBeInstanceOf(Error)
  expect(h.client.error).not.toBeInstanceOf(NoOutcomeError)
}

const context = (identity: NodeIdentity, mode: AuthMode, ca: CertificateAuthority[] = []): SecurityContext =>
  createSecurityContext(identity, { mode, ca: ca.map((c) => c.certificatePem) })

let dir: string
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

let alice: NodeIdentity
let bob: NodeIdentity
let carol: NodeIdentity
let ca: CertificateAuthority
let otherCa: CertificateAuthority
let issuedEd: NodeIdentity
let issuedEc: NodeIdentity
let issuedByOther: NodeIdentity
let caFromFile: string[]

beforeAll(async () => {
  ;[alice, bob, carol] = await Promise.all([createIdentity(), createIdentity(), createIdentity()]).then((r) => r.map((x) => x.identity))
  ca = await createCertificateAuthority({ name: 'Crust test CA' })
  otherCa = await createCertificateAuthority({ name: 'Other CA', keyType: 'ed25519' })
  // One CA identity goes through the file loaders, as a node configured for ca mode would.
  dir = await mkdtemp(join(tmpdir(), 'crust-tls-'))
  const fromFiles = await caIssuedIdentity(ca, 'ed25519')
  await writeFile(join(dir, 'node.crt'), fromFiles.certificatePem + ca.certificatePem)
  await writeFile(join(dir, 'node.key'), fromFiles.privateKeyPem, { mode: 0o600 })
  await writeFile(join(dir, 'ca.pem'), ca.certificatePem)
  issuedEd = await loadCaIdentity({ certFile: join(dir, 'node.crt'), keyFile: join(dir, 'node.key') })
  caFromFile = loadCaFiles([join(dir, 'ca.pem')])
  issuedEc = await caIssuedIdentity(ca, 'ec')
  issuedByOther = await caIssuedIdentity(otherCa, 'ec')
})

describe('TLS 1.3 in peer-id mode', () => {
  it('authenticates both sides by the peer id of their keys', async () => {
    const server = context(alice, 'peer-id')
    const client = context(bob, 'peer-id')
    const h = await run(server, client)
    expectConnected(h)
    expect(client.verifyRemote(remoteCertificate(h.client.socket), alice.peerId).peerId).toBe(alice.peerId)
    // The server learns who dialled from the client certificate.
    expect(server.verifyRemote(remoteCertificate(h.server.socket)).peerId).toBe(bob.peerId)
  })

  it('the client rejects a server whose certificate belongs to another key', async () => {
    const client = context(bob, 'peer-id')
    const h = await run(context(carol, 'peer-id'), client)
    expectConnected(h) // the handshake itself succeeds: the check is by peer id
    const error = (() => {
      try {
        client.verifyRemote(remoteCertificate(h.client.socket), alice.peerId)
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(AuthenticationError)
    expect((error as AuthenticationError).message).toBe(`Expected peer ${alice.peerId} but the certificate belongs to ${carol.peerId}`)
  })

  it('the server rejects a client certificate that is not self-signed', async () => {
    const server = context(alice, 'peer-id')
    const h = await run(server, context(issuedEc, 'peer-id'))
    expectConnected(h)
    expect(() => server.verifyRemote(remoteCertificate(h.server.socket))).toThrow(/not self-signed/)
  })

  it('the server rejects a client that presents no certificate', async () => {
    const server = context(alice, 'peer-id')
    const { cert: _cert, key: _key, ...anonymous } = tlsOptionsFor(context(bob, 'peer-id'), 'client')
    const h = await handshake(tlsOptionsFor(server, 'server'), anonymous)
    open.push(h)
    expectConnected(h)
    expect(remoteCertificate(h.server.socket)).toBeUndefined()
    expect(() => server.verifyRemote(remoteCertificate(h.server.socket))).toThrow(AuthenticationError)
  })

  it('refuses TLS 1.2', async () => {
    const server = context(alice, 'peer-id')
    const h = await handshake(tlsOptionsFor(server, 'server'), { ...tlsOptionsFor(context(bob, 'peer-id'), 'client'), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })
    open.push(h)
    expectRefused(h)
  })
})

describe('TLS 1.3 in ca mode', () => {
  it('accepts certificates issued by the CA (Ed25519 server with chain from files, ECDSA client)', async () => {
    const server = createSecurityContext(issuedEd, { mode: 'ca', ca: caFromFile })
    const client = context(issuedEc, 'ca', [ca])
    const h = await run(server, client)
    expectConnected(h)
    expect(h.client.socket?.authorized).toBe(true)
    expect(h.server.socket?.authorized).toBe(true)
    expect(client.verifyRemote(remoteCertificate(h.client.socket), issuedEd.peerId).peerId).toBe(issuedEd.peerId)
    expect(server.verifyRemote(remoteCertificate(h.server.socket)).peerId).toBe(issuedEc.peerId)
    expect(() => client.verifyRemote(remoteCertificate(h.client.socket), alice.peerId)).toThrow(AuthenticationError)
  })

  it('accepts a server that also trusts another CA', async () => {
    const h = await run(context(issuedEd, 'ca', [otherCa, ca]), context(issuedEc, 'ca', [ca]))
    expectConnected(h)
  })

  it.each([
    ['self-signed', () => alice],
    ['other-CA', () => issuedByOther],
  ])('the handshake fails for a %s server certificate', async (_label, server) => {
    const h = await run(context(server(), 'ca', [ca]), context(issuedEc, 'ca', [ca]))
    expectRefused(h)
    expect(h.client.error?.message).toMatch(/self.signed|unable to (get|verify)|certificate/i)
  })

  it.each([
    ['self-signed', () => bob],
    ['other-CA', () => issuedByOther],
  ])('the handshake fails for a %s client certificate', async (_label, client) => {
    const h = await run(context(issuedEd, 'ca', [ca]), context(client(), 'ca', [ca]))
    // node:tls verifies the client chain after OpenSSL's handshake and destroys the
    // socket without an alert: the server never emits secureConnection, the client is hung up on.
    expectRefused(h)
    expect(h.server.error?.message).toMatch(/socket hang up|certificate/i)
  })

  it('the handshake fails for a client without a certificate', async () => {
    const { cert: _cert, key: _key, ...anonymous } = tlsOptionsFor(context(issuedEc, 'ca', [ca]), 'client')
    const h = await handshake(tlsOptionsFor(context(issuedEd, 'ca', [ca]), 'server'), anonymous)
    open.push(h)
    expectRefused(h)
  })
})

describe('TLS 1.3 in none mode', () => {
  it('accepts any certificate on either side and reports the peer ids', async () => {
    const server = context(alice, 'none')
    const client = context(issuedByOther, 'none')
    const h = await run(server, client)
    expectConnected(h)
    expect(client.verifyRemote(remoteCertificate(h.client.socket), carol.peerId).peerId).toBe(alice.peerId)
    expect(server.verifyRemote(remoteCertificate(h.server.socket)).peerId).toBe(issuedByOther.peerId)
  })
})
