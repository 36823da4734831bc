/**
 * Attack: hold more streams open on one QUIC connection than the node's
 * `maxInboundStreams`, using both paths a peer has (native QUIC streams and
 * the message channel's mux streams, each with a credit of its own).
 * Defence: both paths share one count; a stream past it is reset with
 * `REFUSED` before it reaches the core, so the node never holds more than
 * the bound, however many the peer tries.
 */
import { type CrustNode, StreamResetCode, StreamResetError, type TransportStream } from '@crust/core'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { HostilePeer, createTestNode, stopTestNodes, waitUntil } from '@crust/core/testing'
import type { QUICStream } from '@crust/quic-lib'
import { afterEach, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'
import type { QuicConnection } from '../src/quic-connection.js'
import { libraryConnectionOf } from './helpers.js'

const BOUND = 32
/** A request header declaring 1,000 bytes, none of which follow: the node keeps the stream open waiting. */
const STALLED = HostilePeer.header(1, 1_000)

afterEach(() => stopTestNodes())

/** A full garbage collection, so a memory figure counts what is live, not what awaits collection. */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

/** Live heap and array buffers after a full collection (both ends run in this process). */
function liveBytes(): number {
  collectGarbage()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

/** Reset code the node put on `stream`, or `open` if none came within `ms` (an admitted, stalled stream). */
function outcome(stream: TransportStream, ms: number): Promise<number | 'open'> {
  return firstRead(stream[Symbol.asyncIterator]().next(), ms)
}

/** {@link outcome} for a stream straight from the library (-1: data or the end came). */
function libraryOutcome(stream: QUICStream, ms: number): Promise<number | 'open'> {
  return firstRead(stream.directRead(), ms)
}

/** -1 if `read` resolves within `ms`, the reset code if it fails with one, `open` if it is still waiting. */
async function firstRead(read: Promise<unknown>, ms: number): Promise<number | 'open'> {
  let timer: NodeJS.Timeout | undefined
  const waited = new Promise<'open'>((resolve) => {
    timer = setTimeout(() => resolve('open'), ms)
  })
  const settled = read.then(
    () => -1,
    (error: unknown) => (error instanceof StreamResetError ? error.resetCode : -2),
  )
  try {
    return await Promise.race([settled, waited])
  } finally {
    clearTimeout(timer)
  }
}

/** A hostile peer connected to `node` over QUIC. */
function hostilePeerOf(node: CrustNode): Promise<HostilePeer> {
  return HostilePeer.connect({ factory: quic({ host: '127.0.0.1' }), address: node.addresses[0] as string, peerId: node.peerId, networkName: 'test-net' })
}

/** A stalled request on a stream of `peer`'s: over its message channel when `messageBytes` is given, else a native stream. */
function stalled(peer: HostilePeer, messageBytes?: number): Promise<TransportStream> {
  return peer.connection.openStream({ bidirectional: true, messageBytes }).then(async (stream) => {
    await stream.write(STALLED)
    return stream
  })
}

describe('stream bound across native QUIC streams and the message channel', () => {
  it(`a peer holds at most maxInboundStreams (${BOUND}) streams on both paths together; the rest are REFUSED`, async () => {
    const node = await createTestNode([quic({ host: '127.0.0.1' })], { connection: { maxInboundStreams: BOUND } })
    const peer = await hostilePeerOf(node)
    try {
      const viaChannel = (): Promise<TransportStream> => stalled(peer, STALLED.byteLength)
      const native = (): Promise<TransportStream> => stalled(peer)
      const served = node.getConnection(peer.peerId)?.transportConnection as QuicConnection

      // 20 on the channel, then 20 native: the last 8 native ones are past the bound.
      const first = await Promise.all(Array.from({ length: 20 }, viaChannel))
      await waitUntil(() => served.inboundStreams === 20, 5_000, 'the channel streams to arrive')
      const second = await Promise.all(Array.from({ length: 20 }, native))
      const outcomes = await Promise.all([...first, ...second].map((s) => outcome(s, 1_000)))
      expect(outcomes.filter((o) => o === 'open')).toHaveLength(BOUND)
      expect(outcomes.slice(0, 20).every((o) => o === 'open')).toBe(true)
      expect(outcomes.slice(BOUND)).toEqual(Array(8).fill(StreamResetCode.REFUSED))
      expect(served.inboundStreams).toBe(BOUND)

      // Keep trying on both paths: every further stream is refused, the node's count and memory stay put.
      const more: Array<number | 'open'> = []
      const round = async (): Promise<void> => {
        const batch = await Promise.all([...Array.from({ length: 20 }, viaChannel), ...Array.from({ length: 20 }, native)])
        more.push(...(await Promise.all(batch.map((s) => outcome(s, 2_000)))))
        expect(served.inboundStreams).toBe(BOUND)
      }
      await round() // warm-up: code and caches the first refusals create
      const before = liveBytes()
      for (let i = 0; i < 10; i++) await round()
      const growth = liveBytes() - before
      expect(more).toHaveLength(440)
      expect(more.every((o) => o === StreamResetCode.REFUSED)).toBe(true)
      expect(served.inboundStreams).toBe(BOUND)
      // Nothing of the 440 refused streams is kept (a held stream costs some KB; 400 would be megabytes).
      console.log(`live memory after 440 refused streams: ${(growth / 1024).toFixed(0)} KB`)
      expect(growth).toBeLessThan(1024 * 1024)
      // Refusals are not the peer's fault to punish: the connection stays up, and the held streams free their places.
      for (const stream of first) stream.reset(0)
      await waitUntil(() => served.inboundStreams === BOUND - 20, 5_000, 'the reset streams to be released')
      const again = await viaChannel()
      expect(await outcome(again, 500)).toBe('open')
    } finally {
      await peer.close()
    }
  }, 30_000)

  it('a stream past the bound whose data and FIN arrive in one packet is refused, and the node lives on (quic-lib change 28)', async () => {
    const node = await createTestNode([quic({ host: '127.0.0.1' })], { connection: { maxInboundStreams: BOUND } })
    node.handle(() => Buffer.from('ok'))
    const peer = await hostilePeerOf(node)
    try {
      // The bound filled as in the test above: stalled requests, most on the peer's message channel.
      const held = await Promise.all([
        ...Array.from({ length: BOUND - 4 }, () => stalled(peer, STALLED.byteLength)),
        ...Array.from({ length: 4 }, () => stalled(peer)),
      ])
      const served = node.getConnection(peer.peerId)?.transportConnection as QuicConnection
      await waitUntil(() => served.inboundStreams === BOUND, 5_000, 'the held streams to arrive')
      // Past the bound, straight from the library (the transport's own openStream would wait for credit):
      // the kind byte, a request and the FIN in one write each. The node resets each in its arrival event;
      // the library then went on to read it and threw out of its stream processing (an uncaught exception).
      const library = libraryConnectionOf(peer.connection)
      const refused = Array.from({ length: 2 }, () => {
        const stream = library.newStream('bidi')
        void stream.directWrite(Buffer.concat([Buffer.from([0]), HostilePeer.header(1, 2), Buffer.from('hi')])).catch(() => {})
        void stream.directClose().catch(() => {})
        return stream
      })
      const codes = await Promise.all(refused.map((stream) => libraryOutcome(stream, 5_000)))
      expect(codes).toEqual([StreamResetCode.REFUSED, StreamResetCode.REFUSED])
      expect(served.inboundStreams).toBe(BOUND)
      // The node serves the connection once the held streams are gone.
      for (const stream of held) stream.reset(0)
      await waitUntil(() => served.inboundStreams === 0, 5_000, 'the held streams to be released')
      const request = await peer.open(Buffer.concat([HostilePeer.header(1, 2), Buffer.from('hi')]), { end: true })
      expect(await outcome(request, 5_000)).toBe(-1) // an answer, not a reset
    } finally {
      await peer.close()
    }
  }, 30_000)

  it('a peer holds at most two message channels; a third is REFUSED, a stream of unknown kind gets PROTOCOL_ERROR', async () => {
    const node = await createTestNode([quic({ host: '127.0.0.1' })])
    const peer = await hostilePeerOf(node)
    try {
      const served = node.getConnection(peer.peerId)?.transportConnection as QuicConnection
      const library = libraryConnectionOf(peer.connection)
      /** A bidirectional stream straight from the library that starts with `kind` and stays open. */
      const opened = (kind: number) => {
        const stream = library.newStream('bidi')
        void stream.directWrite(Uint8Array.of(kind)).catch(() => {})
        return stream
      }
      const channels = [opened(1), opened(1)]
      await waitUntil(() => served.openChannels.peer === 2, 5_000, 'two channels of the peer')
      expect(await libraryOutcome(opened(1), 2_000)).toBe(StreamResetCode.REFUSED)
      expect(await libraryOutcome(opened(9), 2_000)).toBe(StreamResetCode.PROTOCOL_ERROR)
      expect(served.openChannels.peer).toBe(2)
      // Neither counts against the peer's streams: the node still serves it.
      expect(served.inboundStreams).toBe(0)
      const request = await peer.open(Buffer.concat([HostilePeer.header(1, 2), Buffer.from('hi')]), { end: true })
      expect(await outcome(request, 5_000)).toBe(-1)
      // The two channels it holds were not reset (the node's muxer may have written to them: -1).
      const held = await Promise.all(channels.map((stream) => libraryOutcome(stream, 300)))
      expect(held.every((outcome) => outcome === 'open' || outcome === -1)).toBe(true)
    } finally {
      await peer.close()
    }
  }, 30_000)
})
