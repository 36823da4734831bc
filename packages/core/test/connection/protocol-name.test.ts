import { describe, expect, it } from 'vitest'
import { parseHandshake } from '../../src/connection/handshake.js'
import { MessageKind, NAMED } from '../../src/connection/message-header.js'
import {
  MAX_APP_PROTOCOL_NAME,
  checkAppProtocolName,
  decodeNamePrefix,
  encodeNamePrefix,
  isAppProtocolName,
} from '../../src/connection/protocol-name.js'
import { ConfigError, ProtocolError } from '../../src/errors.js'

describe('application protocol names', () => {
  it('accepts a slash and 1 to 127 plain characters', () => {
    for (const name of ['/chat/1', '/a', '/acme/files/2.1', '/x-y_z+~:@', `/${'a'.repeat(MAX_APP_PROTOCOL_NAME - 1)}`]) {
      expect(isAppProtocolName(name)).toBe(true)
    }
  })

  it('refuses names that are empty, too long, not led by a slash or not plain ASCII (ConfigError for the application)', () => {
    for (const name of ['', '/', 'chat/1', '/chat 1', '/chät', '/chat\n', `/${'a'.repeat(MAX_APP_PROTOCOL_NAME)}`]) {
      expect(isAppProtocolName(name)).toBe(false)
      expect(() => checkAppProtocolName(name)).toThrow(ConfigError)
    }
  })

  it('round-trips the name prefix of a named message, with and without an envelope', () => {
    const envelope = Buffer.alloc(16, 7)
    const data = Buffer.from('payload')
    const plain = decodeNamePrefix(Buffer.concat([encodeNamePrefix('/chat/1'), data]))
    expect(plain.protocol).toBe('/chat/1')
    expect(Buffer.from(plain.rest).toString()).toBe('payload')
    const sequenced = decodeNamePrefix(Buffer.concat([encodeNamePrefix('/chat/1', envelope), data]))
    expect(Buffer.from(sequenced.rest).subarray(0, 16)).toEqual(envelope)
  })

  it('refuses a malformed prefix from a peer with ProtocolError', () => {
    for (const payload of [Buffer.from([]), Buffer.from([9, 0x2f]), Buffer.from([2, 0x2f, 0x20]), Buffer.from([1, 0x2f])]) {
      expect(() => decodeNamePrefix(payload)).toThrow(ProtocolError)
    }
  })

  it('named kinds are the unnamed ones with the NAMED bit; the unnamed kinds keep their values', () => {
    expect(MessageKind.NAMED_SEND).toBe(MessageKind.SEND | NAMED)
    expect(MessageKind.NAMED_REQUEST).toBe(MessageKind.REQUEST | NAMED)
    expect(MessageKind.SEQ_NAMED_SEND).toBe(MessageKind.SEQ_SEND | NAMED)
    expect(MessageKind.SEQ_NAMED_REQUEST).toBe(MessageKind.SEQ_REQUEST | NAMED)
    expect([MessageKind.SEND, MessageKind.REQUEST, MessageKind.ACK, MessageKind.SEQ_SEND]).toEqual([0, 1, 7, 8])
  })

  it('the handshake carries at most 32 well-formed protocol names', () => {
    const base = { v: 1, network: 'ab'.repeat(32), role: 'node' } as const
    const names = Array.from({ length: 32 }, (_, i) => `/p/${i}`)
    expect(parseHandshake({ ...base, protocols: names }).protocols).toEqual(names)
    expect(() => parseHandshake({ ...base, protocols: [...names, '/p/33'] })).toThrow(ProtocolError)
    expect(() => parseHandshake({ ...base, protocols: ['not a name'] })).toThrow(ProtocolError)
    expect(() => parseHandshake({ ...base, protocols: [`/${'a'.repeat(200)}`] })).toThrow(ProtocolError)
  })
})
