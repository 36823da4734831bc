import { CloseCode, ConnectionClosedError, StreamResetError, type TransportStream } from '@crust/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AbortError } from '@crust/core'
import { Muxer } from '../src/index.js'
import { defaultLimits, type MuxerPair, readAll, sleep, tcpPair, tcpSockets, until } from './helpers.js'

let pair: MuxerPair | undefined
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason)
}

beforeAll(() => {
  process.on('unhandledRejection', onUnhandled)
})

afterAll(() => {
  process.off('unhandledRejection', onUnhandled)
})

afterEach(async () => {
  await pair?.close()
  pair = undefined
})

/** Settle a promise into its outcome, so no rejection is ever left unhandled. */
function outcome(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => error,
  )
}

describe('connection lifecycle', () => {
  it('closing errors every open stream on both sides, with no unhandled rejections', async () => {
    pair = await tcpPair()
    const remoteStreams: TransportStream[] = []
    pair.server.onStream((stream) => remoteStreams.push(stream))
    const local: TransportStream[] = []
    for (let i = 0; i < 5; i++) {
      const stream = await pair.client.openStream({ bidirectional: true })
      await stream.write(Buffer.from('x'))
      local.push(stream)
    }
    await until(() => remoteStreams.length === 5)
    // Pending reads everywhere, plus writes blocked on credit on both sides (64 MiB: more than a
    // reader that keeps consuming lets through before the close, however fast the machine).
    const pending = [
      ...local.map((s) => outcome(readAll(s))),
      ...remoteStreams.map((s) => outcome(readAll(s))),
      outcome((local[0] as TransportStream).write(Buffer.alloc(64 * 1024 * 1024))),
      outcome((remoteStreams[1] as TransportStream).write(Buffer.alloc(64 * 1024 * 1024))),
    ]
    // A stream the peer finished before the close stays readable to its end.
    const finished = await pair.client.openStream({ bidirectional: false })
    const finishedRemote = new Promise<TransportStream>((resolve) => pair?.server.onStream(resolve))
    await finished.write(Buffer.from('complete'), { end: true })
    const completeStream = await finishedRemote
    await sleep(10)

    await pair.client.close({ code: CloseCode.SHUTDOWN, reason: 'bye' })
    const results = await Promise.all(pending)
    for (const result of results) {
      expect(result).toBeInstanceOf(StreamResetError)
    }
    expect((results[0] as StreamResetError).remote).toBe(false)
    expect((results[5] as StreamResetError).remote).toBe(true)
    expect((results[5] as StreamResetError).resetCode).toBe(CloseCode.SHUTDOWN)
    expect((await readAll(completeStream)).toString()).toBe('complete')
    // New operations fail at once.
    await expect(pair.client.openStream({ bidirectional: true })).rejects.toBeInstanceOf(ConnectionClosedError)
    await expect(pair.server.openStream({ bidirectional: true })).rejects.toBeInstanceOf(ConnectionClosedError)
    await expect((local[1] as TransportStream).write(Buffer.from('y'))).rejects.toBeInstanceOf(StreamResetError)
    await expect(pair.client.ping()).rejects.toBeInstanceOf(ConnectionClosedError)
    await sleep(20)
    expect(unhandled).toEqual([])
  })

  it('GO_AWAY carries code and reason to the peer', async () => {
    pair = await tcpPair()
    await pair.client.ping()
    const closing = pair.client.close({ code: CloseCode.BLACKLISTED, reason: 'go away, ünïcode' })
    // Idempotent: a second close returns while the first completes.
    await Promise.all([closing, pair.client.close({ code: CloseCode.INTERNAL })])
    expect(await pair.client.closed).toEqual({ code: CloseCode.BLACKLISTED, reason: 'go away, ünïcode', remote: false })
    expect(await pair.server.closed).toEqual({ code: CloseCode.BLACKLISTED, reason: 'go away, ünïcode', remote: true })
    expect(pair.clientSocket.destroyed).toBe(true)
    expect(pair.serverSocket.destroyed).toBe(true)
  })

  it('truncates a long reason to 256 bytes', async () => {
    pair = await tcpPair()
    await pair.server.close({ code: CloseCode.NORMAL, reason: 'é'.repeat(300) })
    const info = await pair.client.closed
    expect(Buffer.byteLength(info.reason)).toBeLessThanOrEqual(256)
    expect(info.reason).toBe('é'.repeat(128))
  })

  it('a dead socket closes the muxer as remote, failing its streams', async () => {
    pair = await tcpPair()
    const stream = await pair.client.openStream({ bidirectional: true })
    await stream.write(Buffer.from('x'))
    const read = outcome(readAll(stream))
    pair.serverSocket.destroy()
    const info = await pair.client.closed
    expect(info.remote).toBe(true)
    expect(info.code).toBe(CloseCode.INTERNAL)
    expect(await read).toBeInstanceOf(StreamResetError)
    // Destroyed under its feet, the server's muxer also reports a dead socket.
    expect((await pair.server.closed).code).toBe(CloseCode.INTERNAL)
  })

  it('closes with IDLE_TIMEOUT when nothing arrives', async () => {
    pair = await tcpPair({ limits: { idleTimeout: 150 } })
    const started = Date.now()
    const info = await pair.server.closed
    const elapsed = Date.now() - started
    expect(info).toMatchObject({ code: CloseCode.IDLE_TIMEOUT, remote: false })
    expect(elapsed).toBeGreaterThanOrEqual(140)
    expect(elapsed).toBeLessThan(1_000)
    expect(await pair.client.closed).toMatchObject({ code: CloseCode.IDLE_TIMEOUT, remote: true })
  })

  it('keep-alive pings keep an idle connection open', async () => {
    pair = await tcpPair({ limits: { idleTimeout: 150 } }, { limits: { keepAliveInterval: 40 } })
    let closed = false
    void pair.server.closed.then(() => {
      closed = true
    })
    await sleep(600)
    expect(closed).toBe(false)
    expect(pair.client.rtt).toBeGreaterThan(0)
  })

  it('traffic alone also keeps the connection open', async () => {
    pair = await tcpPair({ limits: { idleTimeout: 150 } })
    let closed = false
    void pair.server.closed.then(() => {
      closed = true
    })
    for (let i = 0; i < 10; i++) {
      await pair.client.ping()
      await sleep(50)
    }
    expect(closed).toBe(false)
  })

  it('a muxer given an already destroyed socket is closed at once', async () => {
    const { client, server } = await tcpSockets()
    client.destroy()
    await new Promise((resolve) => client.once('close', resolve))
    const muxer = new Muxer(client, { direction: 'outbound', limits: defaultLimits })
    expect(await muxer.closed).toMatchObject({ code: CloseCode.INTERNAL, remote: true })
    await expect(muxer.openStream({ bidirectional: true })).rejects.toBeInstanceOf(ConnectionClosedError)
    server.destroy()
  })

  it('openStream with an aborted signal rejects at once', async () => {
    pair = await tcpPair()
    await expect(pair.client.openStream({ bidirectional: true, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
  })
})
