import type { DiscoveryIdentity } from '../discovery/types.js'
import { generateIdentityKey } from '../identity/key-file.js'
import { peerIdFromPublicKey } from '../identity/peer-id.js'
import { createSigningIdentity } from '../identity/signing.js'

/** A fresh signing identity, as another node would have: for tests that forge, sign or verify what peers send. */
export function newSigningIdentity(): DiscoveryIdentity {
  const { privateKey, publicKey } = generateIdentityKey()
  return createSigningIdentity(peerIdFromPublicKey(publicKey), privateKey)
}
