/**
 * What a remote certificate says about itself, remembered per certificate so
 * a peer that connects again (a reconnect, a second connection, the other
 * transport) is not parsed and verified again: X.509 parsing, the
 * self-signature and the key export cost ~0.5 ms of CPU per check, a tenth
 * of a QUIC connect. Every fact here is a pure function of the DER bytes;
 * what depends on the moment (the validity window) or on the call (the
 * expected peer id) is still checked on every call by the caller.
 *
 * @packageDocumentation
 */
import { X509Certificate, createHash } from 'node:crypto'
import { peerIdFromPublicKey } from './peer-id.js'

/** The facts of one certificate that do not change with time. */
export interface CertificateFacts {
  /** Peer id of the certificate's public key. */
  readonly peerId: string
  /** Signed by its own key; computed only when asked for (peer-id mode). */
  readonly selfSigned: boolean | undefined
  /** Validity window (ms since the epoch) and its text as the certificate states it. */
  readonly notBefore: number
  readonly notAfter: number
  readonly validFrom: string
  readonly validTo: string
}

/** Read the facts of `der`; throws what `X509Certificate` throws for bytes that do not parse. */
export function certificateFacts(der: Uint8Array, withSelfSignature: boolean): CertificateFacts {
  const certificate = new X509Certificate(der)
  let selfSigned: boolean | undefined
  if (withSelfSignature) {
    try {
      selfSigned = certificate.verify(certificate.publicKey)
    } catch {
      selfSigned = false
    }
  }
  return {
    peerId: peerIdFromPublicKey(certificate.publicKey),
    selfSigned,
    notBefore: Date.parse(certificate.validFrom),
    notAfter: Date.parse(certificate.validTo),
    validFrom: certificate.validFrom,
    validTo: certificate.validTo,
  }
}

/**
 * Facts of the certificates seen lately, keyed by their SHA-256 (32 bytes a
 * key, whatever the certificate's size). Bounded: at most `max` entries,
 * least recently used dropped first. Anyone can present certificates, so a
 * flood of fresh ones only evicts entries (each is then checked in full
 * again); the cache never decides anything the full check would not.
 */
export class CertificateFactsCache {
  private readonly entries = new Map<string, CertificateFacts>()

  constructor(
    private readonly max: number,
    private readonly withSelfSignature: boolean,
  ) {}

  /** The facts of `der`, from the cache or read now (and remembered). */
  get(der: Uint8Array): CertificateFacts {
    const key = createHash('sha256').update(der).digest('base64')
    const known = this.entries.get(key)
    if (known !== undefined) {
      // Most recently used last: Map keeps insertion order.
      this.entries.delete(key)
      this.entries.set(key, known)
      return known
    }
    const facts = certificateFacts(der, this.withSelfSignature)
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
    this.entries.set(key, facts)
    return facts
  }

  /** Number of certificates remembered. */
  get size(): number {
    return this.entries.size
  }
}
