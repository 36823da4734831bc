import { createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto'
import type { QUICClientCrypto, QUICServerCrypto } from '@crust/quic-lib'

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

function hmac(key: ArrayBuffer, data: ArrayBuffer): Buffer {
  return createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest()
}

/**
 * Server-side crypto the library needs for stateless retry tokens and
 * connection ids: HMAC-SHA256 under a random per-transport key. It is not
 * the TLS identity; a restart simply invalidates outstanding retry tokens.
 */
export function serverCrypto(): QUICServerCrypto {
  return {
    key: toArrayBuffer(randomBytes(32)),
    ops: {
      sign: async (key, data) => toArrayBuffer(hmac(key, data)),
      verify: async (key, data, signature) => {
        const expected = hmac(key, data)
        const given = Buffer.from(signature)
        return given.length === expected.length && timingSafeEqual(given, expected)
      },
    },
  }
}

/** Client-side crypto: random connection ids. */
export const clientCrypto: QUICClientCrypto = {
  ops: {
    randomBytes: async (data) => {
      randomFillSync(new Uint8Array(data))
    },
  },
}
