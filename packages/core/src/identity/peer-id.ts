/**
 * Peer ids: the stable text name of a node, derived from its public key.
 *
 * A peer id is the multibase (`b`, base32 lowercase, no padding) encoding of a
 * sha2-256 multihash (`0x12 0x20` followed by the digest) of the key's
 * SubjectPublicKeyInfo DER. It works for any key type.
 *
 * @packageDocumentation
 */
import { createHash, createPublicKey, KeyObject } from 'node:crypto'
import { base32Decode, base32Encode } from './base32.js'

/** Multihash code of sha2-256. */
const SHA2_256 = 0x12
/** Digest length of sha2-256, in bytes. */
const DIGEST_LENGTH = 32
/** Multibase prefix of lowercase unpadded base32. */
const MULTIBASE_BASE32 = 'b'
/**
 * Every peer id starts with this text: the multibase prefix and the base32 of
 * the constant multihash header. {@link shortPeerId} skips it.
 */
export const PEER_ID_PREFIX = 'bciq'

/**
 * Derive the peer id of a public key. A private `KeyObject` is accepted too;
 * its public half is used. A `Uint8Array` must be the SPKI DER of the key.
 */
export function peerIdFromPublicKey(key: KeyObject | Uint8Array): string {
  const spki = key instanceof KeyObject ? spkiOf(key) : key
  const digest = createHash('sha256').update(spki).digest()
  const multihash = new Uint8Array(2 + DIGEST_LENGTH)
  multihash[0] = SHA2_256
  multihash[1] = DIGEST_LENGTH
  multihash.set(digest, 2)
  return MULTIBASE_BASE32 + base32Encode(multihash)
}

/** True when `text` is a well-formed peer id (canonical encoding of a sha2-256 multihash). */
export function isPeerId(text: unknown): text is string {
  if (typeof text !== 'string' || !text.startsWith(MULTIBASE_BASE32)) return false
  let bytes: Uint8Array
  try {
    bytes = base32Decode(text.slice(1))
  } catch {
    return false
  }
  return bytes.length === 2 + DIGEST_LENGTH && bytes[0] === SHA2_256 && bytes[1] === DIGEST_LENGTH
}

/**
 * A short form of a peer id for log lines: the 10 characters that follow the
 * constant {@link PEER_ID_PREFIX}. Other strings are returned cut to 10 characters.
 */
export function shortPeerId(id: string): string {
  return id.startsWith(PEER_ID_PREFIX) ? id.slice(PEER_ID_PREFIX.length, PEER_ID_PREFIX.length + 10) : id.slice(0, 10)
}

/** The SPKI DER of a key object (the public half of a private key). */
export function spkiOf(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  return publicKey.export({ type: 'spki', format: 'der' })
}
