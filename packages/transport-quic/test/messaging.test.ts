import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { contactOf, libraryConnectionOf, sha256, startNode, waitFor } from './helpers.js'

describe('nodes over QUIC', () => {
  // Connecting and messages and requests both ways: the node compliance suite (node-compliance.test.ts).

  // The QUIC load test (it replaces three of one property): ten connections with
  // 16 sends and requests in flight each, and hashes that show nothing lost,
  // duplicated or corrupted. 64 in flight on one connection: defects.test.ts, under loss.
  it('carries 10 senders x 100 x 1 KiB with 16 in flight each, every payload intact (hashed)', async () => {
    const receiver = await startNode()
    const expected = new Map<string, number>()
    const received = new Map<string, number>()
    receiver.handle((msg: IncomingMessage) => {
      const hash = sha256(msg.data)
      received.set(hash, (received.get(hash) ?? 0) + 1)
      if (msg.isRequest) return Buffer.from(hash, 'hex')
    })
    const senders = await Promise.all(Array.from({ length: 10 }, () => startNode()))
    await Promise.all(
      senders.map(async (sender) => {
        const conn = await sender.connect(contactOf(receiver))
        const inFlight: Promise<void>[] = []
        for (let i = 0; i < 100; i++) {
          const payload = randomBytes(1024)
          const hash = sha256(payload)
          expected.set(hash, (expected.get(hash) ?? 0) + 1)
          if (i % 2 === 0) inFlight.push(conn.send(payload))
          else inFlight.push(conn.request(payload).then((answer) => expect(Buffer.from(answer).toString('hex')).toBe(hash)))
          if (inFlight.length >= 16) await inFlight.shift()
        }
        await Promise.all(inFlight)
      }),
    )
    await waitFor(() => [...received.values()].reduce((a, b) => a + b, 0) === 1000, 15_000, 'all 1000 payloads')
    expect(received).toEqual(expected)
  })
})

describe('the message channel (ALPN crust/2)', () => {
  it('is used between two nodes that offer it; messageChannel: false offers only crust/1, and both ends are served over native streams', async () => {
    const answer = (msg: IncomingMessage) => (msg.isRequest ? Buffer.from(`re:${Buffer.from(msg.data).toString()}`) : undefined)
    const b = await startNode()
    b.handle(answer)
    const alpnOf = (conn: { transportConnection: Parameters<typeof libraryConnectionOf>[0] }): string =>
      Buffer.from(libraryConnectionOf(conn.transportConnection).conn.applicationProto()).toString('latin1')

    const withChannel = await startNode()
    expect(alpnOf(await withChannel.connect(contactOf(b)))).toBe('crust/2')

    const plain = await startNode({}, { messageChannel: false })
    plain.handle(answer)
    const conn = await plain.connect(contactOf(b))
    expect(alpnOf(conn)).toBe('crust/1')
    expect(Buffer.from(await conn.request(Buffer.from('a'))).toString()).toBe('re:a')
    const back = b.getConnection(plain.peerId)
    expect(back && alpnOf(back)).toBe('crust/1')
    expect(Buffer.from(await (back as NonNullable<typeof back>).request(Buffer.from('b'))).toString()).toBe('re:b')
  })
})

describe('the gate and refusals over QUIC', () => {
  it('refuses a blacklisted address before any connection state, and the dialler gets BlacklistedError', async () => {
    const { BlacklistedError } = await import('@crust/core')
    const b = await startNode()
    const a = await startNode({ retry: { maxAttempts: 1 } })
    const rejected: Error[] = []
    b.on('connection:rejected', ({ error }) => rejected.push(error))
    b.blacklist.add('127.0.0.1')
    await expect(a.connect(contactOf(b))).rejects.toBeInstanceOf(BlacklistedError)
    expect(rejected[0]).toBeInstanceOf(BlacklistedError)
    expect(b.connections).toHaveLength(0)
  })

  it('refuses over the per-IP limit with ConnectionLimitError', async () => {
    const { ConnectionLimitError } = await import('@crust/core')
    const b = await startNode({ connection: { maxInboundPerIp: 1 } })
    const a = await startNode()
    const c = await startNode({ retry: { maxAttempts: 1 } })
    await a.connect(contactOf(b))
    await expect(c.connect(contactOf(b))).rejects.toBeInstanceOf(ConnectionLimitError)
  })

  it('closing for a blacklisted peer reaches both sides with its code', async () => {
    const { CloseCode } = await import('@crust/core')
    const a = await startNode()
    const b = await startNode()
    const closes: Array<{ side: string; code: number; remote: boolean }> = []
    a.on('connection:close', ({ code, remote }) => closes.push({ side: 'a', code, remote }))
    b.on('connection:close', ({ code, remote }) => closes.push({ side: 'b', code, remote }))
    await a.connect(contactOf(b))
    await waitFor(() => b.connections.length === 1)
    a.blacklist.add(b.peerId)
    await waitFor(() => closes.length === 2)
    expect(closes).toContainEqual({ side: 'a', code: CloseCode.BLACKLISTED, remote: false })
    expect(closes).toContainEqual({ side: 'b', code: CloseCode.BLACKLISTED, remote: true })
  })
})
