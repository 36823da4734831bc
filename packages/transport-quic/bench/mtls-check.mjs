// Crust's certificate check as a bare @matrixai/quic verifyCallback (quic-bench's server with `mtls`, profile-connect's BARE_MTLS).
/**
 * A verifyCallback doing Crust's certificate check (peer-id mode: parse,
 * self-signature, validity, peer id) with a fresh security context, so
 * nothing is remembered between connections unless Crust's own check
 * remembers it too.
 */
export function mtlsCheck(identity) {
  let security
  return async (chain) => {
    security ??= (await import('@crust/core/plugin')).createSecurityContext(identity, { mode: 'peer-id' })
    try {
      security.verifyRemote(chain?.[0])
      return undefined
    } catch {
      return 0x100 + 42 // bad_certificate
    }
  }
}

