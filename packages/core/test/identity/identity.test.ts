import { X509Certificate } from 'node:crypto'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IdentityError } from '../../src/errors.js'
import { createCertificateAuthority, issueCertificate } from '../../src/identity/ca.js'
import { createIdentity, loadCaFiles, loadCaIdentity } from '../../src/identity/identity.js'
import { peerIdFromPublicKey } from '../../src/identity/peer-id.js'
import { nodeKey, useTempDirs } from './helpers.js'

function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return expect.unreachable('expected an error')
}

function expectIdentityError(error: unknown, path: string | undefined, mention: string): void {
  expect(error).toBeInstanceOf(IdentityError)
  expect((error as IdentityError).path).toBe(path)
  expect((error as IdentityError).message).toContain(mention)
}

describe('createIdentity', () => {
  it('makes an in-memory Ed25519 identity with a self-signed certificate when no key file is given', async () => {
    const { identity, warnings } = await createIdentity()
    expect(warnings).toEqual([])
    expect(identity.privateKey.asymmetricKeyType).toBe('ed25519')
    expect(identity.peerId).toBe(peerIdFromPublicKey(identity.privateKey))
    expect(identity.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    const cert = new X509Certificate(identity.certificatePem)
    expect(cert.subject).toBe(`CN=${identity.peerId}`)
    expect(cert.checkPrivateKey(identity.privateKey)).toBe(true)
    expect((await createIdentity()).identity.peerId).not.toBe(identity.peerId)
  })

  const tempDir = useTempDirs()

  it('keeps the peer id across restarts with a key file, with a new certificate each time', async () => {
    const keyFile = join(await tempDir(), 'node.key')
    const first = await createIdentity({ keyFile })
    const second = await createIdentity({ keyFile })
    expect(second.identity.peerId).toBe(first.identity.peerId)
    expect(second.identity.certificatePem).not.toBe(first.identity.certificatePem)
    expect(second.warnings).toEqual([])
  })

  it.runIf(process.platform !== 'win32')('passes key file warnings on', async () => {
    const keyFile = join(await tempDir(), 'node.key')
    await createIdentity({ keyFile })
    await chmod(keyFile, 0o640)
    const { warnings } = await createIdentity({ keyFile })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(keyFile)
  })
})

describe('loadCaIdentity', () => {
  const tempDir = useTempDirs()

  async function caFiles(type: 'ed25519' | 'ec' = 'ec') {
    const dir = await tempDir()
    const ca = await createCertificateAuthority({ name: 'Test CA' })
    const key = nodeKey(type)
    const leaf = await issueCertificate(ca, { privateKey: key, name: 'node-1' })
    const certFile = join(dir, 'node.crt')
    const keyFile = join(dir, 'node.key')
    await writeFile(certFile, leaf)
    await writeFile(keyFile, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
    return { dir, ca, key, leaf, certFile, keyFile }
  }

  it('derives the peer id from the certificate key', async () => {
    const { key, leaf, certFile, keyFile } = await caFiles('ec')
    const identity = await loadCaIdentity({ certFile, keyFile })
    expect(identity.peerId).toBe(peerIdFromPublicKey(key))
    expect(identity.certificatePem).toBe(leaf)
    expect(identity.privateKey.asymmetricKeyType).toBe('ec')
    expect(identity.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/)
  })

  it('keeps a whole chain, leaf first', async () => {
    const { ca, leaf, certFile, keyFile } = await caFiles('ed25519')
    await writeFile(certFile, leaf + ca.certificatePem)
    const identity = await loadCaIdentity({ certFile, keyFile })
    expect(identity.certificatePem).toBe(leaf + ca.certificatePem)
  })

  it('rejects a key that does not belong to the certificate, naming the files', async () => {
    const { dir, certFile } = await caFiles()
    const otherKeyFile = join(dir, 'other.key')
    await writeFile(otherKeyFile, nodeKey('ec').export({ type: 'pkcs8', format: 'pem' }))
    const error = await loadCaIdentity({ certFile, keyFile: otherKeyFile }).catch((e: unknown) => e)
    expectIdentityError(error, otherKeyFile, certFile)
  })

  it('rejects missing and corrupt files, naming the path', async () => {
    const { dir, certFile, keyFile } = await caFiles()
    const missing = join(dir, 'missing.pem')
    expectIdentityError(await loadCaIdentity({ certFile: missing, keyFile }).catch((e: unknown) => e), missing, missing)
    expectIdentityError(await loadCaIdentity({ certFile, keyFile: missing }).catch((e: unknown) => e), missing, missing)
    const corrupt = join(dir, 'corrupt.pem')
    await writeFile(corrupt, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    expectIdentityError(await loadCaIdentity({ certFile: corrupt, keyFile }).catch((e: unknown) => e), corrupt, corrupt)
    await writeFile(corrupt, 'hello')
    expectIdentityError(await loadCaIdentity({ certFile: corrupt, keyFile }).catch((e: unknown) => e), corrupt, corrupt)
    expectIdentityError(await loadCaIdentity({ certFile, keyFile: corrupt }).catch((e: unknown) => e), corrupt, corrupt)
  })
})

describe('loadCaFiles', () => {
  const tempDir = useTempDirs()

  it('reads paths and inline PEM, splitting bundles into one PEM per certificate', async () => {
    const dir = await tempDir()
    const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((name) => createCertificateAuthority({ name })))
    const bundle = join(dir, 'bundle.pem')
    await writeFile(bundle, `# comment\n${a!.certificatePem}\n${b!.certificatePem.replace(/\n/g, '\r\n')}`)
    const pems = loadCaFiles([bundle, c!.certificatePem])
    expect(pems).toHaveLength(3)
    expect(pems.map((pem) => new X509Certificate(pem).subject)).toEqual(['CN=A', 'CN=B', 'CN=C'])
    expect(pems[0]).toBe(a!.certificatePem)
    expect(loadCaFiles([])).toEqual([])
  })

  it('rejects missing, empty and corrupt sources', async () => {
    const dir = await tempDir()
    const missing = join(dir, 'missing.pem')
    expectIdentityError(catchError(() => loadCaFiles([missing])), missing, missing)
    const empty = join(dir, 'empty.pem')
    await writeFile(empty, '')
    expectIdentityError(catchError(() => loadCaFiles([empty])), empty, empty)
    const inline = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'
    expectIdentityError(catchError(() => loadCaFiles([inline])), undefined, '#1')
  })
})
