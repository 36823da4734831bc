import { X509Certificate } from 'node:crypto'
import { AuthenticationError } from '@crust/core'
import { errorMessage } from '@crust/core/plugin'
import { TlsAlert } from './codes.js'

/** A certificate refusal and the TLS alert that tells the peer why. */
export class CertificateRefusal extends AuthenticationError {
  constructor(
    message: string,
    readonly alert: TlsAlert,
  ) {
    super(message)
  }
}

/** Longest chain (leaf included) accepted before the trust anchor. */
const MAX_DEPTH = 8

function validNow(certificate: X509Certificate, now: number): boolean {
  return now >= Date.parse(certificate.validFrom) && now <= Date.parse(certificate.validTo)
}

function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey)
  } catch {
    return false
  }
}

/**
 * Check that the presented chain (DER, leaf first) leads to one of the
 * trusted CA certificates (DER): every link signed by the next, every
 * certificate valid now, intermediates marked as CAs. This is the `ca` auth
 * mode's chain check, done here because the library hands every certificate
 * to our callback unchecked once a callback is set. Throws
 * {@link CertificateRefusal}.
 */
export function verifyChain(chain: readonly Uint8Array[], trusted: readonly Uint8Array[], now = Date.now()): void {
  const anchors = trusted.map((der) => new X509Certificate(der))
  let presented: X509Certificate[]
  try {
    presented = chain.map((der) => new X509Certificate(der))
  } catch (error) {
    throw new CertificateRefusal(`the remote certificate chain cannot be parsed: ${errorMessage(error)}`, TlsAlert.BAD_CERTIFICATE)
  }
  let current = presented[0]
  if (current === undefined) throw new CertificateRefusal('the remote peer presented no certificate', TlsAlert.CERTIFICATE_REQUIRED)
  const unused = new Set(presented.slice(1))
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (!validNow(current, now)) {
      throw new CertificateRefusal(
        `certificate ${current.subject} is not valid now (valid from ${current.validFrom} to ${current.validTo})`,
        TlsAlert.CERTIFICATE_EXPIRED,
      )
    }
    const from: X509Certificate = current
    const anchor = anchors.find((candidate) => issuedBy(from, candidate))
    if (anchor !== undefined) {
      if (!validNow(anchor, now)) throw new CertificateRefusal(`the trusted CA ${anchor.subject} is not valid now`, TlsAlert.CERTIFICATE_EXPIRED)
      return
    }
    const next = [...unused].find((candidate) => candidate.ca && issuedBy(from, candidate))
    if (next === undefined) break
    unused.delete(next)
    current = next
  }
  throw new CertificateRefusal('the remote certificate does not chain to a trusted CA', TlsAlert.UNKNOWN_CA)
}
