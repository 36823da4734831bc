import { type KeyObject, createPublicKey, sign, verify } from 'node:crypto'
import type { DiscoveryIdentity } from '../discovery/types.js'
import { peerIdFromPublicKey } from './peer-id.js'

/** Ed25519 signs the message itself; other key types (CA mode) sign its SHA-256. */
function digestFor(key: KeyObject): string | null {
  return key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256'
}

/** Signing and verification with the node's key, for plugins that announce themselves. */
export function createSigningIdentity(peerId: string, privateKey: KeyObject): DiscoveryIdentity {
  const publicKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' })
  return {
    peerId,
    publicKey,
    sign: (data) => sign(digestFor(privateKey), data, privateKey),
    verify: (claimedPeerId, spki, data, signature) => {
      try {
        const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
        return peerIdFromPublicKey(key) === claimedPeerId && verify(digestFor(key), data, key, signature)
      } catch {
        return false
      }
    },
  }
}
