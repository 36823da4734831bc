/**
 * The node's self-signed TLS certificate, regenerated at every start. Peers
 * authenticate it by the peer id of its key, not by a CA.
 *
 * @packageDocumentation
 */
import type { KeyObject } from 'node:crypto'
import { peerIdFromPublicKey, spkiOf } from './peer-id.js'
import { certificatePem, crypto, randomSerialNumber, toSigningKey, wholeSeconds, x509 } from './x509.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** Optional validity window of {@link createSelfSignedCertificate}. */
export interface SelfSignedCertificateOptions {
  /** Start of validity. Default: one hour ago (tolerates clock skew between peers). */
  readonly notBefore?: Date
  /** End of validity. Default: one year from now. */
  readonly notAfter?: Date
}

/**
 * Create a self-signed X.509 certificate for `privateKey` and return it as
 * PEM: subject `CN=<peer id>`, random serial, valid from one hour ago for a
 * year, basic constraints `CA:false` and key usage `digitalSignature` (both
 * critical). Any key type {@link peerIdFromPublicKey} accepts is supported
 * (Ed25519, ECDSA P-256/384/521, RSA).
 */
export async function createSelfSignedCertificate(
  privateKey: KeyObject,
  options: SelfSignedCertificateOptions = {},
): Promise<string> {
  const now = Date.now()
  const spki = spkiOf(privateKey)
  const signing = await toSigningKey(privateKey)
  const name: x509.JsonName = [{ CN: [peerIdFromPublicKey(spki)] }]
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: name,
      issuer: name,
      notBefore: options.notBefore ?? wholeSeconds(now - HOUR),
      notAfter: options.notAfter ?? wholeSeconds(now + 365 * DAY),
      publicKey: spki,
      signingKey: signing.key,
      signingAlgorithm: signing.algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ],
    },
    crypto,
  )
  return certificatePem(certificate)
}
