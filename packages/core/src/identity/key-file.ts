/**
 * Private key files: the node's Ed25519 identity key (created on first start)
 * and CA-mode keys supplied by the user.
 *
 * @packageDocumentation
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject, type KeyPairKeyObjectResult } from 'node:crypto'
import { link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { IdentityError } from '../errors.js'
import { errorMessage } from '../error-text.js'
import { isErrno, readRequiredFile, unreadableFile } from './files.js'

/** Generate a fresh Ed25519 identity key pair. */
export function generateIdentityKey(): KeyPairKeyObjectResult {
  return generateKeyPairSync('ed25519')
}

/** What {@link loadOrCreateKeyFile} found or made. */
export interface LoadedKeyFile {
  /** The Ed25519 private key. */
  readonly privateKey: KeyObject
  /** True when the file did not exist and a new key was written. */
  readonly created: boolean
  /** Problems worth logging that did not prevent loading (e.g. loose permissions). */
  readonly warnings: string[]
}

/**
 * Load the Ed25519 identity key at `path`, or create it when missing: a new
 * key is written as PKCS#8 PEM with mode 0600, atomically (temp file in the
 * same directory, then rename); missing directories are created (mode 0700).
 *
 * Throws `IdentityError` naming the path when the file is unreadable, corrupt,
 * not a private key, or not Ed25519. A file readable by group or others still
 * loads, with a warning.
 */
export async function loadOrCreateKeyFile(path: string): Promise<LoadedKeyFile> {
  let pem: string
  try {
    pem = await readFile(path, 'utf8')
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw unreadableFile('Key file', path, error)
    const { privateKey } = generateIdentityKey()
    try {
      await writeKeyFileAtomic(path, exportPrivateKeyPem(privateKey), false)
    } catch (writeError) {
      // Another process created it meanwhile: its key is the identity, load it.
      if (writeError instanceof IdentityError && isErrno(writeError.cause, 'EEXIST')) return loadOrCreateKeyFile(path)
      throw writeError
    }
    return { privateKey, created: true, warnings: [] }
  }
  const privateKey = parsePrivateKey(path, pem)
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new IdentityError(`Key file ${path} holds an ${privateKey.asymmetricKeyType ?? 'unknown'} key; the identity key must be Ed25519`, path)
  }
  return { privateKey, created: false, warnings: await permissionWarnings(path) }
}

/**
 * Load a private key of any type from a PEM file that must exist (CA-mode
 * node keys). Throws `IdentityError` naming the path when the file is
 * missing, unreadable, corrupt or not a private key.
 */
export async function loadKeyFile(path: string): Promise<KeyObject> {
  return parsePrivateKey(path, await readRequiredFile('Key file', path))
}

/** PKCS#8 PEM of a private key. */
export function exportPrivateKeyPem(privateKey: KeyObject): string {
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

function parsePrivateKey(path: string, pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' })
  } catch (error) {
    throw new IdentityError(`Key file ${path} is not a valid PEM private key: ${errorMessage(error)}`, path, { cause: error })
  }
}

/**
 * Write `privateKey` to `path` as PKCS#8 PEM, mode 0600, atomically: a
 * private temp file in the same directory (created 0700 if missing), synced,
 * then renamed into place (`replace: true`) or hard-linked there, which fails
 * when the file exists, so an identity is never lost by accident. Throws
 * `IdentityError` naming the path; its `cause` is the file-system error
 * (`EEXIST` when the file exists and `replace` is false).
 */
export async function writeKeyFile(path: string, privateKey: KeyObject, options: { replace?: boolean } = {}): Promise<void> {
  await writeKeyFileAtomic(path, exportPrivateKeyPem(privateKey), options.replace ?? false)
}

async function writeKeyFileAtomic(path: string, pem: string, replace: boolean): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(pem)
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (replace) await rename(temp, path)
    else await link(temp, path)
  } catch (error) {
    const exists = isErrno(error, 'EEXIST')
    throw new IdentityError(exists ? `Key file ${path} already exists` : `Cannot write key file ${path}: ${errorMessage(error)}`, path, {
      cause: error,
    })
  } finally {
    await rm(temp, { force: true })
  }
}

async function permissionWarnings(path: string): Promise<string[]> {
  if (process.platform === 'win32') return []
  const { mode } = await stat(path)
  if ((mode & 0o077) === 0) return []
  const octal = (mode & 0o777).toString(8).padStart(4, '0')
  return [`Key file ${path} is accessible by group or others (mode ${octal}); restrict it with: chmod 600 ${path}`]
}
