/**
 * The node identity: its key, peer id and TLS certificate, either generated
 * (default `peer-id` / `none` auth modes) or loaded from CA-issued files.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs'
import type { KeyObject } from 'node:crypto'
import { IdentityError } from '../errors.js'
import { createSelfSignedCertificate } from './certificate.js'
import { errorMessage } from '../error-text.js'
import { readRequiredFile, unreadableFile } from './files.js'
import { exportPrivateKeyPem, generateIdentityKey, loadKeyFile, loadOrCreateKeyFile } from './key-file.js'
import { containsPemCertificate, parsePemCertificates } from './pem.js'
import { peerIdFromPublicKey } from './peer-id.js'

/** Who this node is: everything TLS needs plus the derived peer id. */
export interface NodeIdentity {
  /** Peer id derived from the public key of {@link privateKey}. */
  readonly peerId: string
  /** The node's private key. */
  readonly privateKey: KeyObject
  /** {@link privateKey} as PKCS#8 PEM. */
  readonly privateKeyPem: string
  /** PEM of the node certificate chain, leaf first. */
  readonly certificatePem: string
}

/** Options of {@link createIdentity}. */
export interface CreateIdentityOptions {
  /** Ed25519 key file to load, or create when missing. Without it the key lives in memory only. */
  readonly keyFile?: string
}

/**
 * Build the identity for the `peer-id` and `none` auth modes: an Ed25519 key
 * (from `keyFile`, created when missing, or in memory) and a fresh
 * self-signed certificate. `warnings` are to be logged by the caller.
 */
export async function createIdentity(
  options: CreateIdentityOptions = {},
): Promise<{ identity: NodeIdentity; warnings: string[] }> {
  const { privateKey, warnings } = options.keyFile
    ? await loadOrCreateKeyFile(options.keyFile)
    : { privateKey: generateIdentityKey().privateKey, warnings: [] }
  const identity: NodeIdentity = {
    peerId: peerIdFromPublicKey(privateKey),
    privateKey,
    privateKeyPem: exportPrivateKeyPem(privateKey),
    certificatePem: await createSelfSignedCertificate(privateKey),
  }
  return { identity, warnings }
}

/** Files of a CA-issued node identity, for {@link loadCaIdentity}. */
export interface CaIdentityFiles {
  /** PEM certificate chain of the node, leaf first. */
  readonly certFile: string
  /** PEM private key of the leaf certificate (any type). */
  readonly keyFile: string
}

/**
 * Load the identity for `ca` auth mode from a certificate chain and its key.
 * The peer id is derived from the leaf certificate's public key. Throws
 * `IdentityError` naming the path when a file is missing or corrupt, or when
 * the key does not belong to the certificate.
 */
export async function loadCaIdentity(files: CaIdentityFiles): Promise<NodeIdentity> {
  const { certFile, keyFile } = files
  const text = await readRequiredFile('Certificate file', certFile)
  const chain = parseCertificates('Certificate file', certFile, text)
  const privateKey = await loadKeyFile(keyFile)
  const leaf = chain[0]
  if (!leaf) throw new IdentityError(`Certificate file ${certFile} holds no certificate`, certFile)
  if (!leaf.certificate.checkPrivateKey(privateKey)) {
    throw new IdentityError(`Key file ${keyFile} does not hold the private key of certificate ${certFile}`, keyFile)
  }
  return {
    peerId: peerIdFromPublicKey(leaf.certificate.publicKey),
    privateKey,
    privateKeyPem: exportPrivateKeyPem(privateKey),
    certificatePem: chain.map((entry) => entry.pem).join(''),
  }
}

/**
 * Resolve the CA certificates trusted in `ca` auth mode. Each source is
 * either PEM text or a path to a PEM file; bundles are split into one PEM per
 * certificate. Throws `IdentityError` naming the path (or the position of
 * inline PEM) when a source is unreadable, corrupt or holds no certificate.
 */
export function loadCaFiles(sources: readonly string[]): string[] {
  return sources.flatMap((source, index) => {
    if (containsPemCertificate(source)) {
      return parseCertificates('Inline CA certificate', `#${index + 1}`, source, false).map((entry) => entry.pem)
    }
    let text: string
    try {
      text = readFileSync(source, 'utf8')
    } catch (error) {
      throw unreadableFile('CA file', source, error)
    }
    return parseCertificates('CA file', source, text).map((entry) => entry.pem)
  })
}

function parseCertificates(
  kind: string,
  label: string,
  text: string,
  isPath = true,
): ReturnType<typeof parsePemCertificates> {
  try {
    return parsePemCertificates(text)
  } catch (error) {
    const path = isPath ? label : undefined
    throw new IdentityError(`${kind} ${label} is not a valid PEM certificate: ${errorMessage(error)}`, path, { cause: error })
  }
}
