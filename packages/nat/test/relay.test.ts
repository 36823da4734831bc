import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256, triangle, waitFor } from './relay-helpers.js'

describe('relay: connecting through a relay', () => {
  it('connects A to B through R: relayed on both ends, messages and requests both ways, 5 MiB intact', async () => {
    const { a, b } = await triangle()
    const received: Array<{ from: string; data: Buffer }> = []
    a.handle((message) => (message.isRequest ? Buffer.from(`a:${Buffer.from(message.data)}`) : undefined))
    b.handle((message) => {
      if (message.isRequest) return Buffer.from(`b:${Buffer.from(message.data)}`)
      received.push({ from: message.peerId, data: Buffer.from(message.data) })
      return undefined
    })
    const started = performance.now()
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    const setupMs = performance.now() - started
    expect(connection.method).toBe('relayed')
    expect(connection.transport).toBe('relay')
    await waitFor(() => b.getConnection(a.peerId) !== undefined, 5000, 'B to pool A')
    const back = b.getConnection(a.peerId)!
    expect(back.method).toBe('relayed')

    expect(Buffer.from(await connection.request(Buffer.from('ping'))).toString()).toBe('b:ping')
    expect(Buffer.from(await back.request(Buffer.from('pong'))).toString()).toBe('a:pong')

    const big = randomBytes(5 * 1024 * 1024)
    const t0 = performance.now()
    await connection.send(big)
    await waitFor(() => received.length === 1, 10_000, 'the 5 MiB message')
    const seconds = (performance.now() - t0) / 1000
    expect(sha256(received[0]!.data)).toBe(sha256(big))
    console.log(`relayed setup ${setupMs.toFixed(1)} ms; 5 MiB in ${(seconds * 1000).toFixed(0)} ms = ${(5 / seconds).toFixed(1)} MiB/s`)
  })
})
