import { createHash, randomBytes } from 'node:crypto'
import { CloseCode, StreamResetError } from '@crust/core'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { echo, makeCertificate, type MuxerPair, readAll, type TlsMaterial, tlsPair } from './helpers.js'

let material: TlsMaterial
let pair: MuxerPair | undefined

beforeAll(() => {
  material = makeCertificate()
})

afterEach(async () => {
  await pair?.close()
  pair = undefined
})

describe('over TLS 1.3', () => {
  it('runs request/response on a new stream per message, 64 in flight', async () => {
    pair = await tlsPair(material)
    echo(pair.server)
    expect((pair.clientSocket as import('node:tls').TLSSocket).getProtocol()).toBe('TLSv1.3')
    const message = randomBytes(1024)
    let done = 0
    const worker = async (): Promise<void> => {
      while (done < 5_000) {
        done++
        const stream = await pair?.client.openStream({ bidirectional: true })
        if (stream === undefined) throw new Error('no pair')
        await stream.write(message, { end: true })
        const back = await readAll(stream)
        if (!back.equals(message)) throw new Error('echo mismatch')
      }
    }
    await Promise.all(Array.from({ length: 64 }, worker))
    expect(pair.client.streamCount).toBe(0)
  })

  it('moves 64 MiB intact (sha256)', async () => {
    pair = await tlsPair(material)
    const received = new Promise<string>((resolve, reject) => {
      pair?.server.onStream((stream) => {
        void (async () => {
          const hash = createHash('sha256')
          for await (const chunk of stream) hash.update(chunk)
          resolve(hash.digest('hex'))
        })().catch(reject)
      })
    })
    const stream = await pair.client.openStream({ bidirectional: false })
    const sent = createHash('sha256')
    const block = randomBytes(4 * 1024 * 1024)
    for (let i = 0; i < 16; i++) {
      block.writeUInt32BE(i, 0)
      sent.update(block)
      await stream.write(block)
    }
    await stream.end()
    expect(await received).toBe(sent.digest('hex'))
  })

  it('delivers GO_AWAY and fails open streams', async () => {
    pair = await tlsPair(material)
    const accepted = new Promise<AsyncIterable<Uint8Array>>((resolve) => pair?.server.onStream(resolve))
    const stream = await pair.client.openStream({ bidirectional: true })
    await stream.write(Buffer.from('x'))
    const remote = await accepted
    const read = readAll(remote).catch((error: unknown) => error)
    await pair.client.close({ code: CloseCode.SHUTDOWN, reason: 'node stopping' })
    expect(await pair.server.closed).toEqual({ code: CloseCode.SHUTDOWN, reason: 'node stopping', remote: true })
    expect(await read).toBeInstanceOf(StreamResetError)
  })
})
