/**
 * Attack: abuse the exactly-once envelopes of peer-addressed messages
 * (`node.send(peerId)` / `node.request(peerId)`, message kinds SEQ_SEND and
 * SEQ_REQUEST) to make the node hoard memory or deliver twice: keep every
 * request outstanding (never settle) so the node keeps each answer for a
 * resend, resend delivered messages, and send envelopes that lie about
 * their window.
 * Defence: answers are kept for resends up to 1 MiB per sender (64 MiB in
 * all); past that a resend learns the answer was lost (`ANSWER_LOST`), and
 * the handler never runs twice. Malformed envelopes are a protocol error on
 * their stream only; a settled message resent is refused. Real nodes, over
 * TCP and QUIC.
 */
import { randomBytes } from 'node:crypto'
import { type CrustNode, StreamResetCode, StreamResetError } from '@crust/core'
import { MessageKind } from '@crust/core/plugin'
import { HostilePeer, contactOf, createTestNode } from '@crust/core/testing'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'
import { describe, expect, it } from 'vitest'
import { TRANSPORTS, type TransportName, startNode } from './nodes.js'

const { SEQ_SEND, SEQ_REQUEST, RESPONSE, ACK } = MessageKind
const RESET = StreamResetCode

const ANSWER_SIZE = 64 * 1024
/** What the node keeps of one sender's answers for resends (core `INBOX_ANSWER_BYTES`). */
const KEPT_PER_SENDER = 1024 * 1024

function envelope(stream: Buffer, seq: number, settled: number): Buffer {
  const bytes = Buffer.alloc(16)
  stream.copy(bytes, 0)
  bytes.writeUInt32BE(seq >>> 0, 8)
  bytes.writeUInt32BE(settled >>> 0, 12)
  return bytes
}

function message(kind: MessageKind, payload: Uint8Array): Buffer {
  return Buffer.concat([HostilePeer.header(kind, payload.byteLength), payload])
}

type Reply = { kind: number; length: number } | { reset: number }

/** Send one raw message on a new stream and read what comes back: a message (kind, payload length) or a reset code. */
async function exchange(peer: HostilePeer, bytes: Uint8Array): Promise<Reply> {
  const stream = await peer.open(bytes, { end: true })
  const chunks: Buffer[] = []
  try {
    for await (const chunk of stream) chunks.push(Buffer.from(chunk))
  } catch (error) {
    if (error instanceof StreamResetError && error.remote) return { reset: error.resetCode }
    throw error
  }
  const all = Buffer.concat(chunks)
  return { kind: all[1]!, length: all.byteLength - 8 }
}

async function victimOf(transport: TransportName): Promise<{ node: CrustNode; deliveries: Map<number, number> }> {
  const node = await startNode(transport)
  const deliveries = new Map<number, number>()
  node.handle((incoming) => {
    const seq = Number(Buffer.from(incoming.data).toString())
    deliveries.set(seq, (deliveries.get(seq) ?? 0) + 1)
    return incoming.isRequest ? Buffer.alloc(ANSWER_SIZE, seq & 0xff) : undefined
  })
  return { node, deliveries }
}

function hostile(node: CrustNode, transport: TransportName): Promise<HostilePeer> {
  return HostilePeer.connect({
    factory: transport === 'tcp' ? tcp({ host: '127.0.0.1' }) : quic({ host: '127.0.0.1' }),
    address: node.addresses[0]!,
    networkName: node.config.networkName,
    peerId: node.peerId,
  })
}

describe.each(TRANSPORTS)('sequenced message abuse (%s)', (transport) => {
  it('requests never settled: answers kept for resends up to 1 MiB for the sender, the rest lost honestly, the handler never runs twice', async () => {
    const { node, deliveries } = await victimOf(transport)
    const peer = await hostile(node, transport)
    try {
      const stream = randomBytes(8)
      const count = 40 // 40 × 64 KiB = 2.5 MiB of answers a resend could ask for again
      for (let seq = 0; seq < count; seq++) {
        const reply = await exchange(peer, message(SEQ_REQUEST, Buffer.concat([envelope(stream, seq, 0), Buffer.from(String(seq))])))
        expect(reply).toEqual({ kind: RESPONSE, length: ANSWER_SIZE })
      }
      // Resend every one (the sender "lost" the answers): the kept ones come back, the others are lost, none delivered again.
      let answered = 0
      let lost = 0
      for (let seq = 0; seq < count; seq++) {
        const reply = await exchange(peer, message(SEQ_REQUEST, Buffer.concat([envelope(stream, seq, 0), Buffer.from(String(seq))])))
        if ('reset' in reply) {
          expect(reply.reset).toBe(RESET.ANSWER_LOST)
          lost++
        } else {
          expect(reply).toEqual({ kind: RESPONSE, length: ANSWER_SIZE })
          answered++
        }
      }
      // Exactly what fits: the first 1 MiB of answers (16), in the order they were given.
      expect(answered).toBe(KEPT_PER_SENDER / ANSWER_SIZE)
      expect(answered + lost).toBe(count)
      expect([...deliveries.values()].every((times) => times === 1)).toBe(true)
      expect(deliveries.size).toBe(count)

      // Settling gives the bytes back: once everything below 40 is settled, resends of it are refused as stale,
      // and new requests' answers are kept again.
      const settledReply = await exchange(peer, message(SEQ_REQUEST, Buffer.concat([envelope(stream, count, count), Buffer.from(String(count))])))
      expect(settledReply).toEqual({ kind: RESPONSE, length: ANSWER_SIZE })
      expect(await exchange(peer, message(SEQ_REQUEST, Buffer.concat([envelope(stream, 3, 0), Buffer.from('3')])))).toEqual({ reset: RESET.REFUSED })
      expect(await exchange(peer, message(SEQ_REQUEST, Buffer.concat([envelope(stream, count, count), Buffer.from(String(count))])))).toEqual({
        kind: RESPONSE,
        length: ANSWER_SIZE,
      })
      expect(deliveries.get(count)).toBe(1)
      expect(deliveries.get(3)).toBe(1)
    } finally {
      await peer.close()
    }
  }, 60_000)

  it('envelopes that lie (seq beyond the window, below its own settled mark, too short) are protocol errors on their stream only; sends stay exactly once', async () => {
    const { node, deliveries } = await victimOf(transport)
    const peer = await hostile(node, transport)
    const genuine = await createTestNode([transport === 'tcp' ? tcp({ host: '127.0.0.1' }) : quic({ host: '127.0.0.1' })])
    try {
      const stream = randomBytes(8)
      const lies = [
        envelope(stream, 5_000, 0), // 1024 or more above the settled mark
        envelope(stream, 1, 2), // below its own settled mark
        envelope(stream, 0xffffffff, 0),
        Buffer.alloc(7), // no envelope at all
      ]
      for (const lie of lies) {
        expect(await exchange(peer, message(SEQ_SEND, Buffer.concat([lie, Buffer.from('999')])))).toEqual({ reset: RESET.PROTOCOL_ERROR })
      }
      expect(deliveries.has(999)).toBe(false)
      // A send resent three times is acknowledged each time and delivered once.
      for (let i = 0; i < 3; i++) {
        expect(await exchange(peer, message(SEQ_SEND, Buffer.concat([envelope(stream, 7, 0), Buffer.from('7')])))).toEqual({ kind: ACK, length: 0 })
      }
      expect(deliveries.get(7)).toBe(1)
      // The node is fine for everyone else.
      await genuine.connect(contactOf(node))
      const answer = await genuine.request(node.peerId, Buffer.from('1'), { timeout: 5_000 })
      expect(answer.byteLength).toBe(ANSWER_SIZE)
    } finally {
      await peer.close()
    }
  }, 60_000)
})
