import { StreamResetError, StreamStateError, type TransportStream } from '@crust/core'
import { afterEach, describe, expect, it } from 'vitest'
import { Flag, FrameType, type MuxStream, StreamStateError as MuxStreamStateError } from '../src/index.js'
import { echo, type MuxerPair, rawPeer, readAll, sleep, tcpPair, until } from './helpers.js'

let pair: MuxerPair | undefined

afterEach(async () => {
  await pair?.close()
  pair = undefined
})

/** Collect the next stream the muxer accepts. */
function nextStream(p: MuxerPair): Promise<TransportStream> {
  return new Promise((resolve) => p.server.onStream(resolve))
}

describe('streams', () => {
  it('echoes on a bidirectional stream', async () => {
    pair = await tcpPair()
    echo(pair.server)
    const stream = await pair.client.openStream({ bidirectional: true })
    expect(stream.id).toBe(1)
    expect(stream.direction).toBe('outbound')
    await stream.write(Buffer.from('hello '))
    await stream.write(Buffer.from('world'), { end: true })
    expect((await readAll(stream)).toString()).toBe('hello world')
    await until(() => pair?.client.streamCount === 0 && pair.server.streamCount === 0)
  })

  it("throws core's StreamStateError, the class every transport shares", () => {
    expect(MuxStreamStateError).toBe(StreamStateError)
  })

  it('carries a unidirectional stream one way only', async () => {
    pair = await tcpPair()
    const accepted = nextStream(pair)
    const stream = await pair.client.openStream({ bidirectional: false })
    await stream.write(Buffer.from('one way'), { end: true })
    const remote = await accepted
    expect(remote.bidirectional).toBe(false)
    expect(remote.direction).toBe('inbound')
    expect((await readAll(remote)).toString()).toBe('one way')
    // The acceptor cannot write; its write side is already ended.
    await expect(remote.write(Buffer.from('back'))).rejects.toBeInstanceOf(StreamStateError)
    await expect(remote.end()).resolves.toBeUndefined()
    // The opener's read side is empty.
    expect(await readAll(stream)).toHaveLength(0)
    await until(() => pair?.client.streamCount === 0 && pair.server.streamCount === 0)
  })

  it('echoes in both directions, both ways (server opens too)', async () => {
    pair = await tcpPair()
    echo(pair.client)
    const stream = await pair.server.openStream({ bidirectional: true })
    expect(stream.id % 2).toBe(0)
    await stream.write(Buffer.from('from server'), { end: true })
    expect((await readAll(stream)).toString()).toBe('from server')
  })

  it('sends a small whole message as one SYN|FIN frame', async () => {
    const peer = await rawPeer('outbound')
    const stream = await peer.muxer.openStream({ bidirectional: true })
    const message = Buffer.alloc(1024, 7)
    await stream.write(message, { end: true })
    await until(() => peer.frames.some((f) => f.type === FrameType.DATA))
    await sleep(20)
    // MAX_STREAMS and the RTT probe, then exactly one DATA frame: SYN|FIN with the whole message.
    expect(peer.frames.map((f) => f.type)).toEqual([FrameType.MAX_STREAMS, FrameType.PING, FrameType.DATA])
    const data = peer.frames[2]
    expect(data?.flags).toBe(Flag.SYN | Flag.FIN)
    expect(data?.streamId).toBe(1)
    expect(Buffer.from(data?.payload ?? []).equals(message)).toBe(true)
    expect(peer.muxer.bytesSent).toBe(12 + 12 + 12 + 1024)
    peer.raw.destroy()
    await peer.muxer.closed
  })

  it('keeps SYNs in id order when streams are written out of order', async () => {
    pair = await tcpPair()
    echo(pair.server)
    const a = await pair.client.openStream({ bidirectional: true })
    const b = await pair.client.openStream({ bidirectional: true })
    await b.write(Buffer.from('b'), { end: true })
    await a.write(Buffer.from('a'), { end: true })
    expect((await readAll(b)).toString()).toBe('b')
    expect((await readAll(a)).toString()).toBe('a')
  })

  it('supports half-close: the peer keeps writing after our end', async () => {
    pair = await tcpPair()
    pair.server.onStream((stream) => {
      void (async () => {
        const request = await readAll(stream)
        // Our side saw the end; we can still answer in several writes.
        for (let i = 0; i < 3; i++) await stream.write(Buffer.from(`${request}-${i};`))
        await stream.end()
      })()
    })
    const stream = await pair.client.openStream({ bidirectional: true })
    await stream.write(Buffer.from('req'))
    await stream.end()
    await expect(stream.write(Buffer.from('late'))).rejects.toBeInstanceOf(StreamStateError)
    expect((await readAll(stream)).toString()).toBe('req-0;req-1;req-2;')
  })

  it('resets from the opener: the acceptor read fails with the code', async () => {
    pair = await tcpPair()
    const accepted = nextStream(pair)
    const stream = await pair.client.openStream({ bidirectional: true })
    await stream.write(Buffer.from('partial'))
    const remote = await accepted
    const iterator = remote[Symbol.asyncIterator]()
    expect((await iterator.next()).value?.length).toBe(7)
    const pendingRead = iterator.next()
    stream.reset(42)
    const error = await pendingRead.then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StreamResetError)
    expect((error as StreamResetError).resetCode).toBe(42)
    expect((error as StreamResetError).remote).toBe(true)
    await expect(remote.write(Buffer.from('x'))).rejects.toBeInstanceOf(StreamResetError)
    // The local side fails too, marked as local.
    const local = await stream.write(Buffer.from('x')).catch((e: unknown) => e)
    expect((local as StreamResetError).remote).toBe(false)
    await until(() => pair?.client.streamCount === 0 && pair.server.streamCount === 0)
  })

  it('resets from the acceptor: the opener read and pending write fail', async () => {
    pair = await tcpPair()
    pair.server.onStream((stream) => stream.reset(7))
    const stream = await pair.client.openStream({ bidirectional: true })
    // Bigger than the window: the write waits for credit that never comes.
    const write = stream.write(Buffer.alloc(1024 * 1024))
    await expect(write).rejects.toMatchObject({ name: 'StreamResetError', resetCode: 7, remote: true })
    await expect(readAll(stream)).rejects.toBeInstanceOf(StreamResetError)
  })

  it('resets a stream before anything was sent (SYN|RST) without delivering it', async () => {
    pair = await tcpPair()
    let delivered = 0
    pair.server.onStream(() => delivered++)
    const stream = await pair.client.openStream({ bidirectional: true })
    stream.reset(1)
    const next = await pair.client.openStream({ bidirectional: true })
    await next.write(Buffer.from('x'), { end: true })
    await until(() => delivered === 1)
    expect(next.id).toBe(3)
  })

  it('buffers streams that arrive before onStream is set', async () => {
    pair = await tcpPair()
    for (let i = 0; i < 3; i++) {
      const stream = await pair.client.openStream({ bidirectional: false })
      await stream.write(Buffer.from(`m${i}`), { end: true })
    }
    await until(() => pair?.server.streamCount === 3)
    const got: string[] = []
    pair.server.onStream((stream) => {
      void readAll(stream).then((b) => got.push(b.toString()))
    })
    await until(() => got.length === 3)
    expect(got).toEqual(['m0', 'm1', 'm2'])
  })

  it('frees credit when the reader breaks early, and keeps the write side usable', async () => {
    pair = await tcpPair()
    const done = new Promise<string>((resolve) => {
      pair?.server.onStream((stream) => {
        void (async () => {
          for await (const _chunk of stream) break
          await stream.write(Buffer.from('answered'), { end: true })
          resolve('ok')
        })()
      })
    })
    const stream = await pair.client.openStream({ bidirectional: true })
    // 1 MiB > window: only works if the abandoned reader keeps returning credit.
    const write = stream.write(Buffer.alloc(1024 * 1024, 1), { end: true })
    expect((await readAll(stream)).toString()).toBe('answered')
    await write
    await done
    await until(() => pair?.client.streamCount === 0 && pair.server.streamCount === 0)
  })

  it('resets when the reader breaks after its own write side ended', async () => {
    pair = await tcpPair()
    const accepted = nextStream(pair)
    const stream = await pair.client.openStream({ bidirectional: true })
    await stream.write(Buffer.from('hi'), { end: true })
    const remote = await accepted
    await readAll(remote)
    const pending = remote.write(Buffer.alloc(2 * 1024 * 1024))
    for await (const _chunk of stream) break
    await expect(pending).rejects.toMatchObject({ name: 'StreamResetError', remote: true })
    expect((stream as MuxStream).isClosed).toBe(true)
  })

  it('serialises concurrent writes on one stream in call order', async () => {
    pair = await tcpPair()
    echo(pair.server)
    const stream = await pair.client.openStream({ bidirectional: true })
    const big = Buffer.alloc(600 * 1024, 1)
    const writes = [stream.write(big), stream.write(Buffer.from('tail')), stream.end()]
    await Promise.all(writes)
    const back = await readAll(stream)
    expect(back.length).toBe(big.length + 4)
    expect(back.subarray(big.length).toString()).toBe('tail')
  })

  it('resets a stream whose handler throws, and measures ping', async () => {
    pair = await tcpPair()
    pair.server.onStream(() => {
      throw new Error('boom')
    })
    const stream = await pair.client.openStream({ bidirectional: true })
    await stream.write(Buffer.from('x'))
    await expect(readAll(stream)).rejects.toBeInstanceOf(StreamResetError)
    const rtt = await pair.client.ping()
    expect(rtt).toBeGreaterThanOrEqual(0)
    expect(pair.client.rtt).toBeGreaterThan(0)
  })
})
