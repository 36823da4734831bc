import { describe, expect, it } from 'vitest'
import { MessageKind } from '../../src/connection/message-header.js'
import { SEQUENCE_WINDOW, SequencedInbox, decodeEnvelope, encodeEnvelope } from '../../src/connection/sequenced.js'
import { ProtocolError } from '../../src/errors.js'

const stream = '0123456789abcdef'
const env = (seq: number, settled = 0, s = stream) => ({ stream: s, seq, settled })

describe('sequenced envelopes and the inbox', () => {
  it('round-trips an envelope and refuses one that breaks the window', () => {
    const bytes = Buffer.concat([encodeEnvelope(env(7, 3)), Buffer.from('data')])
    const { envelope, data } = decodeEnvelope(bytes)
    expect(envelope).toEqual(env(7, 3))
    expect(Buffer.from(data).toString()).toBe('data')
    expect(() => decodeEnvelope(encodeEnvelope(env(2, 3)))).toThrow(ProtocolError)
    expect(() => decodeEnvelope(encodeEnvelope(env(SEQUENCE_WINDOW + 3, 3)))).toThrow(ProtocolError)
    expect(() => decodeEnvelope(new Uint8Array(5))).toThrow(ProtocolError)
  })

  it('delivers each seq once, forgets what the sender settled, and starts over on a new stream', () => {
    const inbox = new SequencedInbox({ maxSenders: 8, maxAnswerBytes: 1024, maxAnswerBytesTotal: 4096 })
    expect(inbox.admit('a', env(0)).verdict).toBe('new')
    expect(inbox.admit('a', env(1)).verdict).toBe('new')
    expect(inbox.admit('a', env(0)).verdict).toBe('duplicate')
    expect(inbox.admit('b', env(0)).verdict).toBe('new') // another sender has its own window
    expect(inbox.admit('a', env(5, 2)).verdict).toBe('new')
    expect(inbox.admit('a', env(1, 2)).verdict).toBe('stale') // settled by the sender: it no longer waits
    expect(inbox.admit('a', env(5, 5)).verdict).toBe('duplicate') // the window moved, the bit moved with it
    expect(inbox.admit('a', env(0, 0, 'fedcba9876543210')).verdict).toBe('new')
  })

  it('keeps answers within the budget, for the resend of a request', async () => {
    const inbox = new SequencedInbox({ maxSenders: 8, maxAnswerBytes: 10, maxAnswerBytesTotal: 1024 })
    inbox.admit('a', env(0))
    inbox.keepAnswer('a', env(0), Promise.resolve({ kind: MessageKind.RESPONSE, data: Buffer.alloc(8) }))
    inbox.admit('a', env(1))
    inbox.keepAnswer('a', env(1), Promise.resolve({ kind: MessageKind.RESPONSE, data: Buffer.alloc(8) }))
    await new Promise((resolve) => setImmediate(resolve))
    const first = inbox.admit('a', env(0))
    expect(first.verdict === 'duplicate' && (await first.answer)?.data.byteLength).toBe(8)
    const second = inbox.admit('a', env(1))
    expect(second.verdict === 'duplicate' && second.answer).toBe(undefined) // over the budget: not kept
  })

  it('gives an answer\'s bytes back once the sender settles it, so a long-lived sender keeps its budget', async () => {
    const inbox = new SequencedInbox({ maxSenders: 8, maxAnswerBytes: 16, maxAnswerBytesTotal: 1024 })
    for (let seq = 0; seq < 20; seq++) {
      const settled = Math.max(0, seq - 1) // two requests outstanding at a time: each settles the one two before it
      inbox.admit('a', env(seq, settled))
      inbox.keepAnswer('a', env(seq, settled), Promise.resolve({ kind: MessageKind.RESPONSE, data: Buffer.alloc(8) }))
      await new Promise((resolve) => setImmediate(resolve))
      const again = inbox.admit('a', env(seq, settled))
      expect(again.verdict === 'duplicate' && (await again.answer)?.data.byteLength, `answer ${seq} kept`).toBe(8)
    }
    expect(inbox.answerBytes).toBe(16)
  })

  it('bounds the answers kept for all senders together, and frees an evicted sender\'s', async () => {
    const inbox = new SequencedInbox({ maxSenders: 2, maxAnswerBytes: 10, maxAnswerBytesTotal: 16 })
    for (const peer of ['a', 'b']) {
      inbox.admit(peer, env(0))
      inbox.keepAnswer(peer, env(0), Promise.resolve({ kind: MessageKind.RESPONSE, data: Buffer.alloc(8) }))
    }
    await new Promise((resolve) => setImmediate(resolve))
    expect(inbox.answerBytes).toBe(16)
    inbox.admit('b', env(1))
    inbox.keepAnswer('b', env(1), Promise.resolve({ kind: MessageKind.RESPONSE, data: Buffer.alloc(1) }))
    await new Promise((resolve) => setImmediate(resolve))
    const over = inbox.admit('b', env(1))
    expect(over.verdict === 'duplicate' && over.answer).toBe(undefined) // the total is full: not kept
    inbox.admit('c', env(0)) // evicts a, the least recently heard
    expect(inbox.answerBytes).toBe(8)
  })

  it('forgets the least recently heard sender beyond maxSenders', () => {
    const inbox = new SequencedInbox({ maxSenders: 2, maxAnswerBytes: 0, maxAnswerBytesTotal: 0 })
    inbox.admit('a', env(0))
    inbox.admit('b', env(0))
    inbox.admit('c', env(0))
    expect(inbox.size).toBe(2)
    expect(inbox.admit('a', env(0)).verdict).toBe('new')
  })
})
