import { createHash } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type CrustStream, isCrustError } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { contactOf, startNode, waitFor } from './helpers.js'

const MiB = 1024 * 1024
const CHUNK = 64 * 1024

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A full garbage collection, so a memory figure counts what is live, not what awaits collection. */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

/** Chunk `i` of the test data: deterministic, so both ends can hash it without holding it. */
function fill(buffer: Buffer, i: number): Buffer {
  buffer.fill(i % 251)
  buffer.writeUInt32BE(i, 0)
  return buffer
}

describe('application streams over TCP + TLS 1.3', () => {
  // Open, echo, half-close, abort, unknown protocol, backpressure: the node compliance suite (node-compliance.test.ts).

  it('carries 64 MiB to a reader that keeps pausing with memory bounded (live heap and RSS growth far below the data)', async () => {
    const a = await startNode()
    const b = await startNode()
    let reader: CrustStream | undefined
    b.handleStream('/sink/1', (stream) => {
      reader = stream
      stream.pause()
    })
    const total = 64 * MiB
    const writer = await (await a.connect(contactOf(b))).openStream('/sink/1')
    await waitFor(() => reader !== undefined, 5_000, 'the handler')
    collectGarbage()
    const before = process.memoryUsage()
    /** Live memory growth (after a collection), the largest seen at the checkpoints. */
    let liveGrowth = 0
    const checkpoint = (): void => {
      collectGarbage()
      const now = process.memoryUsage()
      liveGrowth = Math.max(liveGrowth, now.heapUsed + now.arrayBuffers - before.heapUsed - before.arrayBuffers)
    }
    let peakRss = before.rss
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
    }, 20)
    let written = 0
    try {
      // The writer reuses one buffer, as a file reader would: each write completes once the transport took it.
      const sent = createHash('sha256')
      const writing = (async () => {
        const buffer = Buffer.allocUnsafe(CHUNK)
        for (let i = 0; i < total / CHUNK; i++) {
          fill(buffer, i)
          sent.update(buffer)
          await new Promise<void>((resolve, reject) => writer.write(buffer, (error) => (error ? reject(error) : resolve())))
          written += CHUNK
        }
        await new Promise<void>((resolve) => writer.end(resolve))
      })()
      // The reader pauses 1 s at first, then 100 ms after every 8 MiB; memory is checked in each pause.
      await sleep(1_000)
      const heldBack = written
      checkpoint()
      expect(heldBack, 'bytes the writer got rid of while the reader paused').toBeLessThan(8 * MiB)
      const received = createHash('sha256')
      let bytes = 0
      let nextPause = 8 * MiB
      for await (const chunk of reader as CrustStream) {
        received.update(chunk as Uint8Array)
        bytes += (chunk as Uint8Array).byteLength
        if (bytes >= nextPause) {
          nextPause += 8 * MiB
          await sleep(100)
          checkpoint()
        }
      }
      await writing
      expect(bytes).toBe(total)
      expect(received.digest('hex')).toBe(sent.digest('hex'))
      console.log(`64 MiB through a pausing reader: writer held back after ${(heldBack / MiB).toFixed(1)} MiB`)
    } finally {
      clearInterval(sampler)
    }
    const rssGrowth = (peakRss - before.rss) / MiB
    // Both nodes are in this process: the figures cover writer and reader together.
    console.log(`64 MiB through a pausing reader: live heap+buffers +${(liveGrowth / MiB).toFixed(1)} MiB, peak RSS +${rssGrowth.toFixed(1)} MiB`)
    // What stays live is the transport's window on each side (the muxer grows it up to 16 MiB for a reader
    // that kept up, before it paused: what the receiver holds, and what the sender has in flight towards it),
    // plus the stream's own buffers (256 KiB read-ahead, 64 KiB write): up to ~33 MiB, never the 64 MiB of data.
    expect(liveGrowth / MiB).toBeLessThan(40)
    expect(rssGrowth).toBeLessThan(64)
  }, 60_000)

  it('refuses streams beyond the per-peer limit with LimitExceededError, reclaims idle ones, and keeps serving others', async () => {
    const node = await startNode()
    const hostile = await startNode()
    const friend = await startNode()
    const held: CrustStream[] = []
    node.handleStream('/hold/1', (stream) => void held.push(stream), { maxStreamsPerPeer: 16, idleTimeout: 1_000 })
    node.handle((message) => (message.isRequest ? Buffer.from('fine') : undefined))
    const connection = await hostile.connect(contactOf(node))
    // The hostile peer opens 200 streams at once and never uses them.
    const started = performance.now()
    const outcomes = await Promise.allSettled(Array.from({ length: 200 }, () => connection.openStream('/hold/1')))
    const opened = outcomes.filter((o) => o.status === 'fulfilled').length
    const refused = outcomes.filter((o) => o.status === 'rejected' && isCrustError(o.reason, 'ERR_LIMIT_EXCEEDED')).length
    expect(opened).toBe(16)
    expect(refused).toBe(184)
    expect(performance.now() - started).toBeLessThan(3_000)
    // Meanwhile the node serves another peer at once.
    const answered = performance.now()
    const other = await friend.connect(contactOf(node))
    expect(Buffer.from(await other.request(Buffer.from('ok?'))).toString()).toBe('fine')
    const stream = await other.openStream('/hold/1')
    expect(performance.now() - answered).toBeLessThan(1_000)
    stream.abort()
    // Idle streams are reset after the protocol's idle timeout, freeing their slots.
    await waitFor(() => held.slice(0, 16).every((s) => s.destroyed), 5_000, 'the idle streams to be reclaimed')
    const again = await connection.openStream('/hold/1')
    again.abort()
  }, 30_000)
})
