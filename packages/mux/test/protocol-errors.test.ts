import { CloseCode, ProtocolError, StreamResetError } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { encodeFrame, Flag, FrameType, INITIAL_WINDOW } from '../src/index.js'
import { echo, rawPeer, readAll, tcpPair, until } from './helpers.js'

const data = (flags: number, id: number, payload: Uint8Array = new Uint8Array(0)) => encodeFrame(FrameType.DATA, flags, id, payload)

/** Send `bytes` from a raw client to a muxer and expect a PROTOCOL_ERROR close. */
async function expectProtocolError(
  bytes: Buffer[],
  message: RegExp,
  options?: { maxInboundStreams?: number; read?: boolean },
): Promise<void> {
  const peer = await rawPeer('inbound', { limits: { maxInboundStreams: options?.maxInboundStreams ?? 256 } })
  const opened: Array<Promise<unknown>> = []
  peer.muxer.onStream((stream) => {
    // Reading returns credit; the window test must not read.
    if (options?.read !== false) opened.push(readAll(stream).catch((error: unknown) => error))
  })
  for (const b of bytes) peer.raw.write(b)
  const info = await peer.muxer.closed
  expect(info.code).toBe(CloseCode.PROTOCOL_ERROR)
  expect(info.remote).toBe(false)
  expect(info.error).toBeInstanceOf(ProtocolError)
  expect(info.error?.message).toMatch(message)
  // The peer was told why, then the connection ended.
  await peer.rawClosed
  const goAway = peer.frames.find((f) => f.type === FrameType.GO_AWAY)
  expect(goAway?.streamId).toBe(CloseCode.PROTOCOL_ERROR)
  expect(Buffer.from(goAway?.payload ?? []).toString()).toMatch(message)
  // Streams the peer had opened settle (complete or failed) instead of hanging.
  for (const result of await Promise.all(opened)) {
    if (!Buffer.isBuffer(result)) expect(result).toBeInstanceOf(StreamResetError)
  }
}

describe('protocol errors close the connection with PROTOCOL_ERROR', () => {
  it('garbage bytes', async () => {
    await expectProtocolError([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], /version/)
  })

  it('a bad version', async () => {
    const frame = data(Flag.SYN, 1)
    frame[0] = 1
    await expectProtocolError([frame], /version 1/)
  })

  it('an unknown frame type', async () => {
    await expectProtocolError([Buffer.from([0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])], /type 9/)
  })

  it('a header claiming 4 GiB', async () => {
    const before = process.memoryUsage().arrayBuffers
    await expectProtocolError([encodeFrame(FrameType.DATA, Flag.SYN, 1, 0xffff_ffff)], /exceeds/)
    await expectProtocolError([encodeFrame(FrameType.GO_AWAY, 0, 0, 0xffff_ffff)], /reason/)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024)
  })

  it('data beyond the receive window', async () => {
    const frames = [data(Flag.SYN, 1)]
    for (let sent = 0; sent < INITIAL_WINDOW; sent += 65536) frames.push(data(0, 1, Buffer.alloc(65536)))
    frames.push(data(0, 1, Buffer.alloc(1)))
    await expectProtocolError(frames, /exceed the receive window/, { read: false })
  })

  it('a stream opened beyond the stream credit', async () => {
    // maxInboundStreams 4, but the implicit 32 are allowed: the 33rd is too many.
    const frames = Array.from({ length: 33 }, (_, i) => data(Flag.SYN, 2 * i + 1, Buffer.from('x')))
    await expectProtocolError(frames, /beyond the stream credit/, { maxInboundStreams: 4 })
  })

  it('SYN out of order, wrong parity, duplicate SYN', async () => {
    await expectProtocolError([data(Flag.SYN, 3)], /expected 1/)
    await expectProtocolError([data(Flag.SYN, 2)], /expected 1/)
    await expectProtocolError([data(Flag.SYN, 1), data(Flag.SYN, 1)], /expected 3/)
  })

  it('frames for streams that never existed', async () => {
    await expectProtocolError([data(0, 5, Buffer.from('x'))], /unknown stream 5/)
    await expectProtocolError([encodeFrame(FrameType.WINDOW_UPDATE, 0, 2, 100)], /unknown stream 2/)
    await expectProtocolError([encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, 100)], /unknown stream 0/)
  })

  it('data after FIN and a misplaced PING', async () => {
    await expectProtocolError([data(Flag.SYN | Flag.FIN, 1, Buffer.from('a')), data(0, 1, Buffer.from('b'))], /after FIN/)
    await expectProtocolError([encodeFrame(FrameType.PING, Flag.SYN, 1, 7)], /PING/)
  })

  it('data sent by the acceptor of a unidirectional stream', async () => {
    const peer = await rawPeer('outbound')
    const stream = await peer.muxer.openStream({ bidirectional: false })
    await stream.write(Buffer.from('x'))
    peer.raw.write(data(0, 1, Buffer.from('not allowed')))
    const info = await peer.muxer.closed
    expect(info.code).toBe(CloseCode.PROTOCOL_ERROR)
    await expect(stream.write(Buffer.from('y'))).rejects.toBeInstanceOf(StreamResetError)
  })

  it('an unknown close code from the peer is passed through', async () => {
    const peer = await rawPeer('inbound')
    peer.raw.write(encodeFrame(FrameType.GO_AWAY, 0, 12345, Buffer.from('custom')))
    expect(await peer.muxer.closed).toEqual({ code: 12345, reason: 'custom', remote: true })
  })

  it('the process keeps working afterwards', async () => {
    await expectProtocolError([Buffer.alloc(100, 0xff)], /version/)
    const pair = await tcpPair()
    echo(pair.server)
    const stream = await pair.client.openStream({ bidirectional: true })
    await stream.write(Buffer.from('still alive'), { end: true })
    expect((await readAll(stream)).toString()).toBe('still alive')
    await pair.close()
  })

  it('answers pings from a raw peer and ignores late frames for finished streams', async () => {
    const peer = await rawPeer('inbound')
    const echoes: string[] = []
    peer.muxer.onStream((stream) => {
      void readAll(stream).then((b) => echoes.push(b.toString()))
    })
    peer.raw.write(
      Buffer.concat([encodeFrame(FrameType.PING, Flag.SYN, 0, 77), data(Flag.SYN | Flag.UNI | Flag.FIN, 1, Buffer.from('done'))]),
    )
    await until(() => echoes.length === 1)
    expect(peer.muxer.streamCount).toBe(0)
    // Stream 1 finished and is gone; a late WINDOW_UPDATE and RST for it are ignored.
    peer.raw.write(Buffer.concat([encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, 10), data(Flag.RST, 1, Buffer.alloc(4))]))
    await until(() => peer.frames.some((f) => f.type === FrameType.PING && f.flags === Flag.ACK && f.length === 77))
    // Still open: a ping from the muxer reaches the raw peer.
    void peer.muxer.ping().catch(() => undefined)
    await until(() => peer.frames.filter((f) => f.type === FrameType.PING && f.flags === Flag.SYN).length === 2)
    expect(echoes).toEqual(['done'])
    peer.raw.destroy()
    await peer.muxer.closed
  })
})
