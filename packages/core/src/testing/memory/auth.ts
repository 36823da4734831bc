import { type KeyObject, X509Certificate, createPrivateKey, randomBytes, sign, verify } from 'node:crypto'
import { errorMessage } from '../../error-text.js'
import { AuthenticationError } from '../../errors.js'
import { parsePemCertificates } from '../../identity/pem.js'
import type { RemotePeer, SecurityContext } from '../../transport/types.js'

/** Domain separation for the possession proof, so it cannot be replayed elsewhere. */
const CONTEXT = Buffer.from('crust memory transport: key possession proof v1\0')

/** What one side shows the other in the memory handshake, in place of TLS. */
export interface Presentation {
  /** DER of each certificate of the side's chain, leaf first. */
  readonly chain: readonly Uint8Array[]
  /** Signature by the leaf's key over {@link CONTEXT} and the other side's challenge. */
  readonly proof: Uint8Array
}

/**
 * One side's credentials for the memory handshake: its certificate chain
 * and private key, from the node's {@link SecurityContext}. What the memory
 * transport asserts about a peer is exactly what {@link authenticate} checks.
 */
export class Credentials {
  private readonly chain: readonly Uint8Array[]
  private readonly key: KeyObject

  constructor(private readonly security: SecurityContext) {
    this.chain = parsePemCertificates(security.certificatePem).map(({ certificate }) => certificate.raw)
    this.key = createPrivateKey(security.privateKeyPem)
  }

  /** A fresh random challenge for the other side to sign. */
  static challenge(): Uint8Array {
    return randomBytes(32)
  }

  /** Show our chain and sign the other side's `challenge`. */
  present(challenge: Uint8Array): Presentation {
    return { chain: this.chain, proof: sign(null, Buffer.concat([CONTEXT, challenge]), this.key) }
  }

  /**
   * Authenticate what the other side presented for our `challenge`, under our
   * auth mode, as a TLS transport does after its handshake: in `ca` mode the
   * chain must lead to one of `security.ca` (signatures and validity dates);
   * then `security.verifyRemote` checks the leaf and `expectedPeerId`; last,
   * the proof shows the peer holds the leaf's private key.
   *
   * @throws AuthenticationError when the peer fails
   */
  authenticate(presented: Presentation, challenge: Uint8Array, expectedPeerId?: string): RemotePeer {
    const [leaf] = presented.chain
    if (this.security.mode === 'ca') chainsToTrustedCa(presented.chain, this.security.ca)
    const peer = this.security.verifyRemote(leaf, expectedPeerId)
    const key = new X509Certificate(leaf as Uint8Array).publicKey
    let proven = false
    try {
      proven = verify(null, Buffer.concat([CONTEXT, challenge]), key, presented.proof)
    } catch {
      proven = false
    }
    if (!proven) throw new AuthenticationError(`peer ${peer.peerId} did not prove it holds the key of its certificate`)
    return peer
  }
}

/** Each certificate in `chain` signed by the next, the last by a trusted CA, all valid now. */
function chainsToTrustedCa(chain: readonly Uint8Array[], caPems: readonly string[]): void {
  const now = Date.now()
  let certificates: X509Certificate[]
  let anchors: X509Certificate[]
  try {
    certificates = chain.map((der) => new X509Certificate(der))
    anchors = caPems.flatMap((pem) => parsePemCertificates(pem).map(({ certificate }) => certificate))
  } catch (error) {
    throw new AuthenticationError(`a certificate cannot be parsed: ${errorMessage(error)}`, { cause: error })
  }
  const validNow = (c: X509Certificate): boolean => now >= Date.parse(c.validFrom) && now <= Date.parse(c.validTo)
  const signedBy = (c: X509Certificate, issuer: X509Certificate): boolean => c.checkIssued(issuer) && c.verify(issuer.publicKey)
  if (certificates.length === 0) throw new AuthenticationError('The remote peer presented no certificate')
  for (const [i, certificate] of certificates.entries()) {
    if (!validNow(certificate)) throw new AuthenticationError('the remote certificate chain is not valid now')
    if (anchors.some((ca) => validNow(ca) && signedBy(certificate, ca))) return
    const issuer = certificates[i + 1]
    if (issuer === undefined || !signedBy(certificate, issuer)) break
  }
  throw new AuthenticationError('the remote certificate does not chain to a trusted CA')
}
