import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../src/errors.js'
import {
  MESSAGE_HEADER_SIZE,
  MessageKind,
  decodeMessageHeader,
  encodeMessage,
  encodeMessageHeader,
} from '../../src/connection/message-header.js'

const kinds = Object.values(MessageKind)

describe('message header', () => {
  it('round-trips every kind and length', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.integer({ min: 0, max: 0xffffffff }), (kind, length) => {
        expect(decodeMessageHeader(encodeMessageHeader(kind, length))).toEqual({ kind, length })
      }),
    )
  })

  it('puts header and payload in one buffer', () => {
    const encoded = encodeMessage(MessageKind.SEND, Buffer.from('abc'))
    expect(encoded.byteLength).toBe(MESSAGE_HEADER_SIZE + 3)
    expect(encoded.subarray(MESSAGE_HEADER_SIZE).toString()).toBe('abc')
  })

  it('rejects a wrong version, an unknown kind and a short header with ProtocolError', () => {
    const header = encodeMessageHeader(MessageKind.SEND, 1)
    expect(() => decodeMessageHeader(Uint8Array.from([9, ...header.subarray(1)]))).toThrow(ProtocolError)
    expect(() => decodeMessageHeader(Uint8Array.from([header[0]!, 200, 0, 0, 0, 0, 0, 1]))).toThrow(ProtocolError)
    expect(() => decodeMessageHeader(header.subarray(0, 5))).toThrow(ProtocolError)
  })

  it('never throws anything but ProtocolError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => {
        try {
          decodeMessageHeader(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError)
        }
      }),
    )
  })
})
