import { randomBytes } from 'node:crypto'
import { MessageTooLargeError, RemoteHandlerError } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { contactOf, sha256, startNode, waitFor } from './helpers.js'

describe('messages between real nodes over TCP + TLS 1.3', () => {
  // Sends and requests both ways: the node compliance suite (node-compliance.test.ts).

  it('delivers messages through the async iterator as well as the event', async () => {
    const a = await startNode()
    const b = await startNode()
    const events: string[] = []
    b.on('message', (m) => events.push(Buffer.from(m.data).toString()))
    const received: string[] = []
    const consumer = (async () => {
      for await (const message of b.messages()) {
        received.push(Buffer.from(message.data).toString())
        if (received.length === 3) break
      }
    })()
    const conn = await a.connect(contactOf(b))
    for (const text of ['one', 'two', 'three']) await conn.send(Buffer.from(text))
    await consumer
    expect(received.sort()).toEqual(['one', 'three', 'two'])
    expect(events.sort()).toEqual(['one', 'three', 'two'])
  })

  it('reports a throwing handler to the requester as RemoteHandlerError', async () => {
    const a = await startNode()
    const b = await startNode()
    b.handle(() => {
      throw new Error('handler exploded')
    })
    const conn = await a.connect(contactOf(b))
    await expect(conn.request(Buffer.from('x'))).rejects.toThrow(RemoteHandlerError)
    await expect(conn.request(Buffer.from('x'))).rejects.toThrow(/handler exploded/)
  })

  // 1 MiB messages: 10 per sender are enough for correctness; bulk throughput is the bench's job.
  it.each([
    [100, '1 KiB', 1024],
    [10, '1 MiB', 1024 * 1024],
  ])('delivers 10 senders x %i messages of %s, each verified by hash', async (count, _label, size) => {
    const receiver = await startNode({ maxMessageSize: 2 * 1024 * 1024 })
    const expected = new Map<string, number>()
    const got = new Map<string, number>()
    receiver.handle((msg) => {
      const digest = sha256(msg.data.subarray(0, msg.data.byteLength - 32))
      const carried = Buffer.from(msg.data.subarray(msg.data.byteLength - 32)).toString('hex')
      expect(digest).toBe(carried)
      got.set(digest, (got.get(digest) ?? 0) + 1)
    })
    const senders = await Promise.all(Array.from({ length: 10 }, () => startNode({ maxMessageSize: 2 * 1024 * 1024 })))
    await Promise.all(
      senders.map(async (sender) => {
        const conn = await sender.connect(contactOf(receiver))
        const inFlight: Promise<void>[] = []
        for (let i = 0; i < count; i++) {
          const body = randomBytes(size - 32)
          const digest = sha256(body)
          expected.set(digest, (expected.get(digest) ?? 0) + 1)
          inFlight.push(conn.send(Buffer.concat([body, Buffer.from(digest, 'hex')])))
          if (inFlight.length >= 16) await inFlight.shift()
        }
        await Promise.all(inFlight)
      }),
    )
    await waitFor(() => got.size === expected.size, 60_000, 'all messages')
    expect(got).toEqual(expected)
  }, 120_000)

  it('delivers 10,000 messages on one connection with none lost or duplicated', async () => {
    const a = await startNode()
    const b = await startNode()
    const seen = new Uint8Array(10_000)
    b.handle((msg) => {
      seen[Buffer.from(msg.data).readUInt32BE(0)]! += 1
    })
    const conn = await a.connect(contactOf(b))
    const inFlight = new Set<Promise<void>>()
    for (let i = 0; i < 10_000; i++) {
      const message = Buffer.alloc(64)
      message.writeUInt32BE(i, 0)
      const sending = conn.send(message).finally(() => inFlight.delete(sending))
      inFlight.add(sending)
      if (inFlight.size >= 64) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
    await waitFor(() => seen.reduce((sum, n) => sum + n, 0) >= 10_000, 20_000, '10,000 messages')
    expect(seen.every((n) => n === 1)).toBe(true)
    expect(a.connections).toHaveLength(1)
  }, 60_000)

  it('rejects an oversized message on the sender and the receiver survives', async () => {
    const a = await startNode({ maxMessageSize: 4 * 1024 * 1024 })
    const b = await startNode({ maxMessageSize: 1024 * 1024 })
    const errors: Error[] = []
    b.on('error', ({ error }) => errors.push(error))
    b.handle((msg) => (msg.isRequest ? msg.data.subarray(0, 1) : undefined))
    const conn = await a.connect(contactOf(b))
    // Over the sender's own limit: refused before anything is sent.
    const local = a.getConnection(b.peerId)!
    await expect(local.send(new Uint8Array(5 * 1024 * 1024))).rejects.toBeInstanceOf(MessageTooLargeError)
    // Within the sender's limit but over the receiver's: the receiver resets the stream.
    await expect(conn.request(new Uint8Array(2 * 1024 * 1024))).rejects.toBeInstanceOf(MessageTooLargeError)
    await waitFor(() => errors.some((e) => e instanceof MessageTooLargeError), 5000, 'receiver-side error')
    // The connection and both nodes keep working.
    expect(Buffer.from(await conn.request(Buffer.from('ok')))).toEqual(Buffer.from('o'))
  })
})
