/**
 * The bridge to `@peculiar/x509` (internal): loads the Reflect polyfill its
 * dependency injection needs, hands it node's WebCrypto, and converts node
 * `KeyObject`s to WebCrypto signing keys.
 *
 * @packageDocumentation
 */
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { randomBytes, webcrypto, type KeyObject } from 'node:crypto'
import { IdentityError } from '../errors.js'

export { x509 }

/** Node's WebCrypto, passed explicitly to every `@peculiar/x509` call that signs or hashes. */
export const crypto: webcrypto.Crypto = webcrypto

// Use node's WebCrypto as the library default, unless the application already chose one.
if (!x509.cryptoProvider.has(x509.CryptoProvider.DEFAULT)) x509.cryptoProvider.set(crypto)

const CURVES: Readonly<Record<string, { namedCurve: string; hash: string }>> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
}

/** A WebCrypto signing key and the algorithm to sign certificates with. */
export interface SigningKey {
  readonly key: webcrypto.CryptoKey
  readonly algorithm: webcrypto.Algorithm
}

/**
 * Import a node private key for certificate signing. Supports Ed25519, ECDSA
 * (P-256, P-384, P-521) and RSA (PKCS#1 v1.5 with SHA-256).
 */
export async function toSigningKey(privateKey: KeyObject): Promise<SigningKey> {
  const type = privateKey.asymmetricKeyType
  let params: webcrypto.Algorithm | webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams
  let algorithm: webcrypto.Algorithm | webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams
  if (type === 'ed25519') {
    params = algorithm = { name: 'Ed25519' }
  } else if (type === 'ec') {
    const curve = CURVES[privateKey.asymmetricKeyDetails?.namedCurve ?? '']
    if (!curve) throw new IdentityError(`Unsupported elliptic curve ${privateKey.asymmetricKeyDetails?.namedCurve ?? 'unknown'}`)
    params = { name: 'ECDSA', namedCurve: curve.namedCurve }
    algorithm = { name: 'ECDSA', hash: curve.hash }
  } else if (type === 'rsa') {
    params = algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
  } else {
    throw new IdentityError(`Unsupported key type ${type ?? 'unknown'} for certificates`)
  }
  const der = privateKey.export({ type: 'pkcs8', format: 'der' })
  const key = await crypto.subtle.importKey('pkcs8', der, params, false, ['sign'])
  return { key, algorithm }
}

/** PEM text of a certificate, with `\n` line ends and a final newline. */
export function certificatePem(certificate: x509.X509Certificate): string {
  return `${certificate.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`
}

/** A random positive 128-bit certificate serial number, as hex. */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40
  return bytes.toString('hex')
}

/** `date` rounded down to a whole second (certificate times have second precision). */
export function wholeSeconds(date: number): Date {
  return new Date(Math.floor(date / 1000) * 1000)
}
