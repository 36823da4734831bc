import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { base32Decode, base32Encode } from '../../src/identity/base32.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('base32', () => {
  // RFC 4648 section 10 vectors, lowercased and without padding.
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ]

  it.each(vectors)('encodes %j as %j (RFC 4648)', (plain, encoded) => {
    expect(base32Encode(text(plain))).toBe(encoded)
    expect(base32Decode(encoded)).toEqual(text(plain))
  })

  it('round-trips every byte value', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    expect(base32Decode(base32Encode(all))).toEqual(all)
  })

  it('round-trips arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const encoded = base32Encode(bytes)
        expect(encoded).toMatch(/^[a-z2-7]*$/)
        expect(encoded.length).toBe(Math.ceil((bytes.length * 8) / 5))
        expect(base32Decode(encoded)).toEqual(bytes)
      }),
      { numRuns: 500 },
    )
  })

  it('accepts only canonical text: decoding then encoding gives the input back (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz234567'), maxLength: 40 }), (s) => {
        let decoded: Uint8Array
        try {
          decoded = base32Decode(s)
        } catch {
          return
        }
        expect(base32Encode(decoded)).toBe(s)
      }),
      { numRuns: 500 },
    )
  })

  it.each([
    ['uppercase', 'MZXW6'],
    ['padding', 'my======'],
    ['digit 1', 'm1'],
    ['digit 0', 'mz0q'],
    ['length 1', 'm'],
    ['length 3', 'mzx'],
    ['length 6', 'mzxw6y'],
    ['non-zero trailing bits', 'mz'],
    ['non-ASCII', 'mzxé'],
  ])('rejects %s', (_label, input) => {
    expect(() => base32Decode(input)).toThrow(SyntaxError)
  })
})
