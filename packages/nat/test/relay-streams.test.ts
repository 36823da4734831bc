import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { pipeline } from 'node:stream/promises'
import { type CrustStream, isCrustError } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { triangle, waitFor } from './relay-helpers.js'

const MiB = 1024 * 1024

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

const hash = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

describe('relay: application protocols and streams over a relayed connection', () => {
  it('named messages, a 4 MiB stream echoed intact, half-close, abort and an unknown protocol, through R', async () => {
    const { a, b } = await triangle()
    b.handle('/chat/1', (message) => (message.isRequest ? Buffer.from(`b:${Buffer.from(message.data)}`) : undefined))
    b.handleStream('/echo/1', (stream) => void pipeline(stream, stream).catch(() => {}))
    const handled: CrustStream[] = []
    b.handleStream('/hold/1', (stream) => void handled.push(stream))
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
    expect([...connection.remoteProtocols]).toEqual(['/chat/1', '/echo/1', '/hold/1'])
    expect(Buffer.from(await connection.request(Buffer.from('hi'), { protocol: '/chat/1' })).toString()).toBe('b:hi')

    const stream = await a.openStream(b.peerId, '/echo/1')
    expect(stream.connection.method).toBe('relayed')
    const data = randomBytes(4 * MiB)
    const echoed = readAll(stream)
    for (let at = 0; at < data.byteLength; at += 64 * 1024) {
      if (!stream.write(data.subarray(at, at + 64 * 1024))) await once(stream, 'drain')
    }
    stream.end()
    expect(hash(await echoed)).toBe(hash(data))

    const held = await connection.openStream('/hold/1')
    await waitFor(() => handled.length === 1, 5_000, 'the handler')
    held.abort(9)
    const error = await readAll(handled[0] as CrustStream).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isCrustError(error, 'ERR_STREAM_RESET') && error.resetCode).toBe(9)

    const refused = await connection.openStream('/nope/1').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isCrustError(refused, 'ERR_PROTOCOL_NOT_SUPPORTED')).toBe(true)
  }, 30_000)
})
