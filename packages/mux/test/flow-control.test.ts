import { createHash, randomBytes } from 'node:crypto'
import { AbortError, type TransportStream } from '@crust/core'
import { afterEach, describe, expect, it } from 'vitest'
import { INITIAL_WINDOW, type MuxStream } from '../src/index.js'
import { echo, type MuxerPair, readAll, sleep, tcpPair, until } from './helpers.js'

let pair: MuxerPair | undefined

afterEach(async () => {
  await pair?.close()
  pair = undefined
})

describe('flow control', () => {
  it('moves 64 MiB on one stream intact (sha256) and grows the window', async () => {
    pair = await tcpPair()
    const received = new Promise<{ hash: string; bytes: number; window: number }>((resolve, reject) => {
      pair?.server.onStream((stream) => {
        void (async () => {
          const hash = createHash('sha256')
          let bytes = 0
          for await (const chunk of stream) {
            hash.update(chunk)
            bytes += chunk.length
          }
          resolve({ hash: hash.digest('hex'), bytes, window: (stream as MuxStream).receiveWindow })
        })().catch(reject)
      })
    })
    const stream = await pair.client.openStream({ bidirectional: false })
    const block = randomBytes(1024 * 1024)
    const sent = createHash('sha256')
    for (let i = 0; i < 64; i++) {
      // Vary each block so reordering or duplication would change the hash.
      block.writeUInt32BE(i, 0)
      sent.update(block)
      await stream.write(block)
    }
    await stream.end()
    const result = await received
    expect(result.bytes).toBe(64 * 1024 * 1024)
    expect(result.hash).toBe(sent.digest('hex'))
    expect(result.window).toBeGreaterThan(INITIAL_WINDOW)
  })

  it('a slow reader holds the writer back and stays within its window', async () => {
    pair = await tcpPair()
    const accepted = new Promise<TransportStream>((resolve) => pair?.server.onStream(resolve))
    const stream = await pair.client.openStream({ bidirectional: true })
    let written = false
    const total = 4 * 1024 * 1024
    const write = stream.write(Buffer.alloc(total, 3), { end: true }).then(
      () => {
        written = true
      },
      (error: unknown) => error,
    )
    const remote = (await accepted) as MuxStream
    await until(() => remote.bufferedBytes >= INITIAL_WINDOW)
    await sleep(100)
    // Nothing more arrives than the window allows, and the write is still pending.
    expect(remote.bufferedBytes).toBe(INITIAL_WINDOW)
    expect(written).toBe(false)
    expect(pair.server.bytesReceived).toBeLessThan(INITIAL_WINDOW + 4096)
    // Read slowly (half a window takes longer than two RTTs): the window does
    // not grow and the buffer never exceeds it.
    await until(() => pair?.server.rtt !== 0)
    const pause = Math.max(10, Math.ceil(pair.server.rtt * 2))
    let bytes = 0
    let overflow = 0
    for await (const chunk of remote) {
      bytes += chunk.length
      if (remote.bufferedBytes > remote.receiveWindow) overflow++
      if (bytes < 1024 * 1024) {
        await sleep(pause)
        expect(remote.receiveWindow).toBe(INITIAL_WINDOW)
      }
    }
    expect(await write).toBeUndefined()
    expect(written).toBe(true)
    expect(bytes).toBe(total)
    expect(overflow).toBe(0)
  })

  it('1,000 concurrent streams beyond the stream credit: openStream waits, nothing fails', async () => {
    pair = await tcpPair({ limits: { maxInboundStreams: 20 } })
    let open = 0
    let maxOpen = 0
    pair.server.onStream((stream) => {
      open++
      maxOpen = Math.max(maxOpen, open)
      void (async () => {
        const data = await readAll(stream)
        // Hold the stream a little so the credit really runs out.
        await sleep(1)
        await stream.write(data, { end: true })
        open--
      })()
    })
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const stream = await pair?.client.openStream({ bidirectional: true })
        if (stream === undefined) throw new Error('no pair')
        await stream.write(Buffer.from(`message ${i}`), { end: true })
        return (await readAll(stream)).toString()
      }),
    )
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => `message ${i}`))
    // The 32 implicit credits, then never more than maxInboundStreams open at once.
    expect(maxOpen).toBeLessThanOrEqual(32)
    await until(() => pair?.server.streamCount === 0)
  })

  it('openStream waiting for credit can be aborted', async () => {
    pair = await tcpPair({ limits: { maxInboundStreams: 0 } })
    const held: TransportStream[] = []
    for (let i = 0; i < 32; i++) held.push(await pair.client.openStream({ bidirectional: true }))
    const controller = new AbortController()
    const waiting = pair.client.openStream({ bidirectional: true, signal: controller.signal })
    const second = pair.client.openStream({ bidirectional: true })
    const secondFails = expect(second).rejects.toMatchObject({ name: 'ConnectionClosedError' })
    await sleep(20)
    controller.abort()
    await expect(waiting).rejects.toBeInstanceOf(AbortError)
    // The later waiter is still queued and fails cleanly when the connection closes.
    await pair.client.close()
    await secondFails
  })

  it('a larger initialWindow is granted up front', async () => {
    pair = await tcpPair({ initialWindow: 1024 * 1024 })
    const accepted = new Promise<TransportStream>((resolve) => pair?.server.onStream(resolve))
    const stream = await pair.client.openStream({ bidirectional: false })
    const write = stream.write(Buffer.alloc(1024 * 1024, 1))
    const remote = (await accepted) as MuxStream
    await write
    await until(() => remote.bufferedBytes === 1024 * 1024)
    expect(remote.receiveWindow).toBe(1024 * 1024)
    await stream.end()
    expect((await readAll(remote)).length).toBe(1024 * 1024)
  })

  it('echoes many streams in parallel with mixed sizes', async () => {
    pair = await tcpPair()
    echo(pair.server)
    const sizes = [0, 1, 1000, 65536, 65537, 300_000, 1_000_000]
    await Promise.all(
      sizes.map(async (size) => {
        const stream = await pair?.client.openStream({ bidirectional: true })
        if (stream === undefined) throw new Error('no pair')
        const data = randomBytes(size)
        const [, back] = await Promise.all([stream.write(data, { end: true }), readAll(stream)])
        expect(back.equals(data)).toBe(true)
      }),
    )
  })
})
