import type { RemotePeer, SecurityContext } from '@crust/core'
import type { TLSVerifyCallback } from '@crust/quic-lib'
import { errorMessage } from '@crust/core/plugin'
import { CertificateRefusal, verifyChain } from './chain.js'
import { TlsAlert, cryptoError } from './codes.js'

/** Outcome of one certificate check. */
export type Verdict = { readonly ok: true; readonly peer: RemotePeer } | { readonly ok: false; readonly error: CertificateRefusal }

function refusalOf(error: unknown, alert: TlsAlert): CertificateRefusal {
  if (error instanceof CertificateRefusal) return error
  const message = errorMessage(error)
  return new CertificateRefusal(message, alert)
}

/**
 * Authenticate a remote certificate chain under the node's auth mode:
 * `none` accepts any certificate, `peer-id` calls `security.verifyRemote`
 * (self-signature, validity, expected peer id), `ca` first checks the chain
 * against the trusted CAs. Never throws.
 */
export function checkCertificates(
  security: SecurityContext,
  chain: readonly Uint8Array[],
  trusted: readonly Uint8Array[],
  expectedPeerId?: string,
): Verdict {
  try {
    const leaf = chain[0]
    if (leaf === undefined) return { ok: false, error: new CertificateRefusal('the remote peer presented no certificate', TlsAlert.CERTIFICATE_REQUIRED) }
    if (security.mode === 'ca') verifyChain(chain, trusted)
    let peer: RemotePeer
    try {
      peer = security.verifyRemote(leaf)
    } catch (error) {
      return { ok: false, error: refusalOf(error, TlsAlert.BAD_CERTIFICATE) }
    }
    if (expectedPeerId !== undefined && security.mode !== 'none' && peer.peerId !== expectedPeerId) {
      try {
        security.verifyRemote(leaf, expectedPeerId) // throws the core's own message for a wrong key
      } catch (error) {
        return { ok: false, error: refusalOf(error, TlsAlert.ACCESS_DENIED) }
      }
      return { ok: false, error: new CertificateRefusal(`expected peer ${expectedPeerId} but found ${peer.peerId}`, TlsAlert.ACCESS_DENIED) }
    }
    return { ok: true, peer }
  } catch (error) {
    return { ok: false, error: refusalOf(error, TlsAlert.INTERNAL_ERROR) }
  }
}

/**
 * The library's `verifyCallback` for one side of a handshake. The library
 * awaits it without a catch (a throw is an unhandled rejection that kills the
 * process), so it only ever resolves: `undefined` to accept, or the QUIC
 * crypto error code (TLS alert) that the library then sends to the peer,
 * which maps it to `AUTH_FAILED`. `onVerdict` sees every outcome, so the
 * local side can report the precise reason.
 */
export function verifyCallback(
  security: SecurityContext,
  options: { readonly expectedPeerId?: string; readonly onVerdict?: (verdict: Verdict, chain: readonly Uint8Array[]) => void },
): TLSVerifyCallback {
  return async (chain, trusted) => {
    let code: number | undefined
    try {
      const verdict = checkCertificates(security, chain ?? [], trusted ?? [], options.expectedPeerId)
      if (!verdict.ok) code = cryptoError(verdict.error.alert)
      options.onVerdict?.(verdict, chain ?? [])
    } catch {
      code ??= cryptoError(TlsAlert.INTERNAL_ERROR) // a throwing observer must not let a peer through
    }
    // The library types the result as its CryptoError enum; any 0x100-0x1ff number is one.
    return code as Awaited<ReturnType<TLSVerifyCallback>>
  }
}

/**
 * Chains a listener's `verifyCallback` accepted moments ago, so the handshake
 * that completes with one does not parse and verify it a second time (X.509
 * parsing, the self-signature and the key export cost ~0.6 ms of CPU per
 * check). The same chain from the same quiche connection gets the same
 * verdict; one not found (expired, evicted, or taken by a concurrent
 * handshake with the same certificate) is checked again in full. Bounded:
 * at most `max` entries, each kept `ttlMs`.
 */
export class AcceptedChains {
  private readonly entries = new Map<string, { readonly peer: RemotePeer; readonly until: number }>()

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}

  /** The callback accepted `chain` as `peer`. */
  remember(chain: readonly Uint8Array[], peer: RemotePeer): void {
    const key = keyOf(chain)
    this.entries.delete(key)
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
    this.entries.set(key, { peer, until: performance.now() + this.ttlMs })
  }

  /** The verdict for `chain` if the callback accepted it within `ttlMs`; forgotten once taken. */
  take(chain: readonly Uint8Array[]): Verdict | undefined {
    const key = keyOf(chain)
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    return entry.until >= performance.now() ? { ok: true, peer: entry.peer } : undefined
  }
}

function keyOf(chain: readonly Uint8Array[]): string {
  return chain.map((der) => Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')).join('.')
}
