/**
 * RFC 4648 base32, lowercase alphabet, without padding: the text form used by
 * multibase prefix `b`. Decoding is strict so that every byte string has
 * exactly one accepted text form.
 *
 * @packageDocumentation
 */

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

const LOOKUP: ReadonlyMap<string, number> = new Map([...ALPHABET].map((char, index) => [char, index]))

/** The alphabet as character codes. */
const CODES = Uint8Array.from([...ALPHABET].map((char) => char.charCodeAt(0)))

/**
 * Encode `bytes` as lowercase RFC 4648 base32 without `=` padding. Returns a
 * flat string: appending character by character built a rope of one 32-byte
 * cons cell per character (a peer id held 1.6 KB for its 59 characters).
 */
export function base32Encode(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil((bytes.length * 8) / 5))
  let length = 0
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out[length++] = CODES[(buffer >>> bits) & 31]!
    }
  }
  if (bits > 0) out[length++] = CODES[(buffer << (5 - bits)) & 31]!
  return Buffer.from(out.buffer, 0, length).toString('latin1')
}

/**
 * Decode lowercase, unpadded RFC 4648 base32. Throws a `SyntaxError` for
 * characters outside the alphabet, impossible lengths, or non-zero trailing
 * bits (a non-canonical encoding).
 */
export function base32Decode(text: string): Uint8Array {
  // 1, 3 and 6 leftover characters cannot come from whole bytes.
  if ([1, 3, 6].includes(text.length % 8)) {
    throw new SyntaxError(`Invalid base32 length ${text.length}`)
  }
  const out = new Uint8Array(Math.floor((text.length * 5) / 8))
  let buffer = 0
  let bits = 0
  let index = 0
  for (const char of text) {
    const value = LOOKUP.get(char)
    if (value === undefined) throw new SyntaxError(`Invalid base32 character ${JSON.stringify(char)}`)
    buffer = ((buffer << 5) | value) & 0xffff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[index++] = (buffer >>> bits) & 0xff
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) throw new SyntaxError('Non-canonical base32: trailing bits are not zero')
  return out
}
