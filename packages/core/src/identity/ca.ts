/**
 * A minimal certificate authority for `ca` auth mode: for users who run their
 * own CA for a private network, and for tests. Certificates it issues work
 * with node:tls as TLS 1.3 server and client certificates.
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto'
import { IdentityError } from '../errors.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { exportPrivateKeyPem, generateIdentityKey } from './key-file.js'
import { spkiOf } from './peer-id.js'
import { certificatePem, crypto, randomSerialNumber, toSigningKey, wholeSeconds, x509 } from './x509.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** A CA certificate and its private key, both PEM. */
export interface CertificateAuthority {
  readonly certificatePem: string
  readonly privateKeyPem: string
}

/** Options of {@link createCertificateAuthority}. */
export interface CreateCertificateAuthorityOptions {
  /** Common name of the CA, e.g. `My network CA`. */
  readonly name: string
  /** Key type of the CA. Default `ecdsa-p256`. */
  readonly keyType?: 'ecdsa-p256' | 'ed25519'
  /** Validity in days from now. Default 3650. */
  readonly validityDays?: number
}

/**
 * Create a self-signed root CA (basic constraints `CA:true`, key usage
 * `keyCertSign` and `cRLSign`, subject key identifier).
 */
export async function createCertificateAuthority(options: CreateCertificateAuthorityOptions): Promise<CertificateAuthority> {
  const { privateKey } =
    options.keyType === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const spki = spkiOf(privateKey)
  const signing = await toSigningKey(privateKey)
  const name: x509.JsonName = [{ CN: [options.name] }]
  const now = Date.now()
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: name,
      issuer: name,
      notBefore: wholeSeconds(now - HOUR),
      notAfter: wholeSeconds(now + (options.validityDays ?? 3650) * DAY),
      publicKey: spki,
      signingKey: signing.key,
      signingAlgorithm: signing.algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(spki, false, crypto),
      ],
    },
    crypto,
  )
  return { certificatePem: certificatePem(certificate), privateKeyPem: exportPrivateKeyPem(privateKey) }
}

/** Options of {@link issueCertificate}. Give the node's `publicKey` or its `privateKey`. */
export interface IssueCertificateOptions {
  /** The node's public key (any type: Ed25519, ECDSA, RSA). */
  readonly publicKey?: KeyObject
  /** The node's private key; only its public half is used. */
  readonly privateKey?: KeyObject
  /** Common name of the node. */
  readonly name: string
  /** Validity in days from now. Default 365. */
  readonly validityDays?: number
  /** Subject alternative names: IP literals become IP entries, anything else DNS entries. */
  readonly altNames?: readonly string[]
}

/**
 * Issue a node certificate signed by `ca`, returned as PEM: basic constraints
 * `CA:false`, key usage `digitalSignature` (all TLS 1.3 needs), extended key
 * usage `serverAuth` and `clientAuth`, authority and subject key identifiers.
 * Throws `IdentityError` when the CA key does not match the CA certificate.
 */
export async function issueCertificate(ca: CertificateAuthority, options: IssueCertificateOptions): Promise<string> {
  const nodeKey = options.publicKey ?? options.privateKey
  if (!nodeKey) throw new TypeError('issueCertificate needs the publicKey or privateKey of the node')
  const caKey = createPrivateKey(ca.privateKeyPem)
  const caCert = new X509Certificate(ca.certificatePem)
  if (!caCert.checkPrivateKey(caKey)) throw new IdentityError('The CA private key does not match the CA certificate')
  const issuer = new x509.X509Certificate(ca.certificatePem)
  const spki = spkiOf(nodeKey)
  const signing = await toSigningKey(caKey)
  const now = Date.now()
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(spki, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(spkiOf(createPublicKey(caKey)), false, crypto),
  ]
  if (options.altNames?.length) {
    const names = options.altNames.map((value) => ({ type: isIP(value) ? x509.IP : x509.DNS, value }))
    extensions.push(new x509.SubjectAlternativeNameExtension(names))
  }
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: [{ CN: [options.name] }],
      issuer: issuer.subjectName,
      notBefore: wholeSeconds(now - HOUR),
      notAfter: wholeSeconds(now + (options.validityDays ?? 365) * DAY),
      publicKey: spki,
      signingKey: signing.key,
      signingAlgorithm: signing.algorithm,
      extensions,
    },
    crypto,
  )
  return certificatePem(certificate)
}

/** Where {@link writeNodeCertificateFiles} put a node's key and certificate. */
export interface NodeCertificateFiles {
  readonly certFile: string
  readonly keyFile: string
}

/**
 * Make a fresh Ed25519 key for a node, have `ca` certify it, and write both
 * as `<dir>/<name>.key` (mode 0600) and `<dir>/<name>.crt`: the files
 * `auth.certFile` and `auth.keyFile` of a node in `ca` mode point at.
 */
export async function writeNodeCertificateFiles(
  ca: CertificateAuthority,
  options: { readonly dir: string; readonly name: string; readonly validityDays?: number },
): Promise<NodeCertificateFiles> {
  const { privateKey } = generateIdentityKey()
  const certFile = join(options.dir, `${options.name}.crt`)
  const keyFile = join(options.dir, `${options.name}.key`)
  await mkdir(options.dir, { recursive: true })
  await writeFile(certFile, await issueCertificate(ca, { privateKey, name: options.name, validityDays: options.validityDays }))
  await writeFile(keyFile, exportPrivateKeyPem(privateKey), { mode: 0o600 })
  return { certFile, keyFile }
}
