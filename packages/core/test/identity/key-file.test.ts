import { generateKeyPairSync } from 'node:crypto'
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IdentityError } from '../../src/errors.js'
import { generateIdentityKey, loadKeyFile, loadOrCreateKeyFile, writeKeyFile } from '../../src/identity/key-file.js'
import { peerIdFromPublicKey } from '../../src/identity/peer-id.js'
import { useTempDirs } from './helpers.js'

const posix = process.platform !== 'win32'

async function expectIdentityError(promise: Promise<unknown>, path: string, text?: RegExp): Promise<IdentityError> {
  const error = await promise.then(
    () => expect.unreachable('expected an IdentityError'),
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(IdentityError)
  const identityError = error as IdentityError
  expect(identityError.code).toBe('ERR_IDENTITY')
  expect(identityError.message).toContain(path)
  expect(identityError.path).toBe(path)
  if (text) expect(identityError.message).toMatch(text)
  return identityError
}

describe('key files', () => {
  const tempDir = useTempDirs()

  it('generateIdentityKey makes Ed25519 key pairs', () => {
    const { privateKey, publicKey } = generateIdentityKey()
    expect(privateKey.asymmetricKeyType).toBe('ed25519')
    expect(publicKey.asymmetricKeyType).toBe('ed25519')
  })

  it('creates a missing key file (and its directories) as PKCS#8 PEM with mode 0600, atomically', async () => {
    const dir = join(await tempDir(), 'a', 'b')
    const path = join(dir, 'node.key')
    const loaded = await loadOrCreateKeyFile(path)
    expect(loaded.created).toBe(true)
    expect(loaded.warnings).toEqual([])
    expect(loaded.privateKey.asymmetricKeyType).toBe('ed25519')
    expect(await readFile(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
    expect(await readdir(dir)).toEqual(['node.key']) // no temp file left behind
    if (posix) expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('reloads the same key, hence the same peer id', async () => {
    const path = join(await tempDir(), 'node.key')
    const first = await loadOrCreateKeyFile(path)
    const second = await loadOrCreateKeyFile(path)
    expect(second.created).toBe(false)
    expect(second.warnings).toEqual([])
    expect(peerIdFromPublicKey(second.privateKey)).toBe(peerIdFromPublicKey(first.privateKey))
  })

  it.runIf(posix)('loads a key file readable by others, with a warning naming the path', async () => {
    const path = join(await tempDir(), 'node.key')
    const { privateKey } = await loadOrCreateKeyFile(path)
    await chmod(path, 0o644)
    const loaded = await loadOrCreateKeyFile(path)
    expect(peerIdFromPublicKey(loaded.privateKey)).toBe(peerIdFromPublicKey(privateKey))
    expect(loaded.warnings).toHaveLength(1)
    expect(loaded.warnings[0]).toContain(path)
    expect(loaded.warnings[0]).toContain('0644')
  })

  it('rejects a corrupt key file with an IdentityError naming the path', async () => {
    const path = join(await tempDir(), 'node.key')
    await writeFile(path, '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n', { mode: 0o600 })
    await expectIdentityError(loadOrCreateKeyFile(path), path, /not a valid PEM private key/)
    await writeFile(path, 'garbage')
    await expectIdentityError(loadOrCreateKeyFile(path), path)
  })

  it('rejects a file holding a public key rather than a private key', async () => {
    const path = join(await tempDir(), 'node.key')
    const { publicKey } = generateKeyPairSync('ed25519')
    await writeFile(path, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o600 })
    await expectIdentityError(loadOrCreateKeyFile(path), path)
  })

  it('rejects an identity key that is not Ed25519', async () => {
    const path = join(await tempDir(), 'node.key')
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    await writeFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
    await expectIdentityError(loadOrCreateKeyFile(path), path, /Ed25519/)
  })

  it('rejects a path that is a directory', async () => {
    const path = join(await tempDir(), 'node.key')
    await mkdir(path)
    await expectIdentityError(loadOrCreateKeyFile(path), path, /cannot be read/)
  })

  it('reports a key file path whose parent is a regular file', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'file'), '')
    const path = join(dir, 'file', 'node.key')
    await expectIdentityError(loadOrCreateKeyFile(path), path, /ENOTDIR/)
  })

  it.runIf(process.platform === 'linux')('reports a key file it cannot create', async () => {
    const path = '/proc/self/crust-node.key' // missing, and nobody (not even root) can create files there
    await expectIdentityError(loadOrCreateKeyFile(path), path, /Cannot write key file/)
  })

  it('rejects an unreadable key file', async () => {
    // A directory where the key file should be: present but unreadable, even for root.
    const path = join(await tempDir(), 'node.key')
    await mkdir(path)
    await expectIdentityError(loadOrCreateKeyFile(path), path, /cannot be read|EISDIR/)
  })

  it('loadKeyFile loads any key type, in PKCS#8 or SEC1 form', async () => {
    const dir = await tempDir()
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    await writeFile(join(dir, 'ec.key'), ec.export({ type: 'sec1', format: 'pem' }))
    await writeFile(join(dir, 'rsa.key'), rsa.export({ type: 'pkcs8', format: 'pem' }))
    expect(peerIdFromPublicKey(await loadKeyFile(join(dir, 'ec.key')))).toBe(peerIdFromPublicKey(ec))
    expect(peerIdFromPublicKey(await loadKeyFile(join(dir, 'rsa.key')))).toBe(peerIdFromPublicKey(rsa))
  })

  it('loadKeyFile rejects a missing or corrupt file with an IdentityError naming the path', async () => {
    const dir = await tempDir()
    const missing = join(dir, 'ca-node.key')
    await expectIdentityError(loadKeyFile(missing), missing, /does not exist/)
    const corrupt = join(dir, 'corrupt.key')
    await writeFile(corrupt, 'not a key')
    await expectIdentityError(loadKeyFile(corrupt), corrupt)
  })
})

describe('writeKeyFile', () => {
  const tempDir = useTempDirs()

  it('never replaces an existing identity unless asked, and leaves no temp files', async () => {
    const dir = await tempDir()
    const path = join(dir, 'keys', 'id.pem')
    const first = generateIdentityKey().privateKey
    await writeKeyFile(path, first)
    if (posix) expect((await stat(path)).mode & 0o777).toBe(0o600)
    const error = await expectIdentityError(writeKeyFile(path, generateIdentityKey().privateKey), path, /already exists/)
    expect((error.cause as NodeJS.ErrnoException).code).toBe('EEXIST')
    expect(peerIdFromPublicKey((await loadOrCreateKeyFile(path)).privateKey)).toBe(peerIdFromPublicKey(first))
    const second = generateIdentityKey().privateKey
    await writeKeyFile(path, second, { replace: true })
    expect(peerIdFromPublicKey((await loadOrCreateKeyFile(path)).privateKey)).toBe(peerIdFromPublicKey(second))
    expect(await readdir(join(dir, 'keys'))).toEqual(['id.pem'])
  })

  it('processes creating the same key file at once all end with one identity', async () => {
    const path = join(await tempDir(), 'id.pem')
    const loaded = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateKeyFile(path)))
    const ids = new Set(loaded.map((key) => peerIdFromPublicKey(key.privateKey)))
    expect(ids.size).toBe(1)
    expect(loaded.filter((key) => key.created)).toHaveLength(1)
  })
})
