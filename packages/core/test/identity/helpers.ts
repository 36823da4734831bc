import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { issueCertificate, type CertificateAuthority } from '../../src/identity/ca.js'
import type { NodeIdentity } from '../../src/identity/identity.js'
import { exportPrivateKeyPem } from '../../src/identity/key-file.js'
import { peerIdFromPublicKey } from '../../src/identity/peer-id.js'

/** A fresh temp directory, removed after the current test. */
export function useTempDirs(): () => Promise<string> {
  const dirs: string[] = []
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
  })
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crust-identity-'))
    dirs.push(dir)
    return dir
  }
}

/** A new node private key of the given type. */
export function nodeKey(type: 'ed25519' | 'ec' | 'rsa' = 'ed25519'): KeyObject {
  if (type === 'ec') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  return generateKeyPairSync('ed25519').privateKey
}

/** A node identity whose certificate `ca` issued. */
export async function caIssuedIdentity(ca: CertificateAuthority, type: 'ed25519' | 'ec' | 'rsa' = 'ed25519'): Promise<NodeIdentity> {
  const privateKey = nodeKey(type)
  const peerId = peerIdFromPublicKey(privateKey)
  return {
    peerId,
    privateKey,
    privateKeyPem: exportPrivateKeyPem(privateKey),
    certificatePem: await issueCertificate(ca, { privateKey, name: peerId }),
  }
}
