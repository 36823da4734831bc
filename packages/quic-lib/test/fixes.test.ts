/**
 * Each of Crust's changes to @matrixai/quic (patches/, see the README),
 * tested on the library as built (`@crust/quic-lib`, with its vendored
 * @matrixai/events) and, where the change is observable there, measured on
 * the published library too, so each test is shown to fail without the fix.
 */
import { execFileSync } from 'node:child_process'
import dgram from 'node:dgram'
import { fileURLToPath } from 'node:url'
import type { QUICConnection, QUICStream } from '@crust/quic-lib'
import { describe, expect, it } from 'vitest'
import { type Library, clientCrypto, connect, logger, openedStream, patched, readAll, retryGate, send, serverCrypto, tls, upstream, waitFor } from './helpers.js'

/** Underlying `EventTarget` dispatches for one `dispatchEvent` of an event nobody listens to. */
function dispatchesPerEvent(lib: Library): number {
  const target = new lib.QUICSocket({})
  const dispatch = EventTarget.prototype.dispatchEvent
  let dispatched = 0
  EventTarget.prototype.dispatchEvent = function (this: EventTarget, event: Event) {
    dispatched++
    return dispatch.call(this, event)
  }
  try {
    target.dispatchEvent(new lib.events.EventQUICSocketStart())
  } finally {
    EventTarget.prototype.dispatchEvent = dispatch
  }
  return dispatched
}

/** `processStreams` runs on the receiving connection per datagram it received, for 64 small streams. */
async function streamRunsPerDatagram(lib: Library): Promise<number> {
  const pair = await connect(lib)
  try {
    const server = await pair.server()
    const internals = server as unknown as { processStreams(): void }
    const original = internals.processStreams.bind(server)
    let runs = 0
    internals.processStreams = () => {
      runs++
      original()
    }
    const before = server.conn.stats().recv
    await Promise.all(Array.from({ length: 64 }, (_, i) => send(pair.client.connection, Buffer.alloc(4096, i))))
    await waitFor(() => pair.serverStreams.length === 64)
    await Promise.all(pair.serverStreams.map(readAll))
    const datagrams = server.conn.stats().recv - before
    expect(datagrams).toBeGreaterThan(0)
    return runs / datagrams
  } finally {
    await pair.close()
  }
}

/**
 * Iterations of quiche's `readable()` and `writable()` on the server while the client pings an idle
 * connection (no stream open): each iteration costs ~10 µs in the binding, paid per datagram.
 */
async function streamSetWalksWhileIdle(lib: Library): Promise<{ pings: number; walks: number }> {
  const pair = await connect(lib)
  try {
    const server = await pair.server()
    await new Promise((resolve) => setTimeout(resolve, 50))
    const conn = server.conn as unknown as { readable(): Iterable<number>; writable(): Iterable<number> }
    let walks = 0
    for (const name of ['readable', 'writable'] as const) {
      const original = conn[name].bind(conn)
      conn[name] = () => {
        walks++
        return original()
      }
    }
    const client = pair.client.connection
    const before = server.conn.stats().recv
    const pings = 20
    for (let i = 0; i < pings; i++) {
      client.conn.sendAckEliciting()
      await (client as unknown as { send(): Promise<void> }).send()
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return { pings: server.conn.stats().recv - before, walks }
  } finally {
    await pair.close()
  }
}

/** The server connection's quiche timer and its streams' read buffers, after two streams. */
async function timerAndReadBuffers(lib: Library): Promise<{ nodeTimer: boolean; readBuffers: number; sharedWithClient: boolean }> {
  const pair = await connect(lib, { serverConfig: { maxIdleTimeout: 10_000 }, clientConfig: { maxIdleTimeout: 10_000 } })
  try {
    const server = await pair.server()
    for (let i = 0; i < 2; i++) {
      const stream = pair.client.connection.newStream('bidi')
      const writer = stream.writable.getWriter()
      await writer.write(Buffer.from('x'))
      writer.releaseLock()
    }
    await waitFor(() => pair.serverStreams.length === 2)
    const timer = (server as unknown as { connTimeoutTimer?: unknown }).connTimeoutTimer
    const streams: QUICStream[] = [...server.streamMap.values()]
    expect(streams.length).toBe(2)
    const chunkOf = (s: QUICStream) => (s as unknown as { readableChunk?: Buffer }).readableChunk
    const clientStream = [...pair.client.connection.streamMap.values()][0] as QUICStream
    return {
      // Another connection (the client's, same process): the same scratch buffer once shared by the process.
      sharedWithClient: chunkOf(clientStream) === chunkOf(streams[0] as QUICStream),
      nodeTimer: typeof (timer as { hasRef?: unknown } | undefined)?.hasRef === 'function',
      readBuffers: new Set(streams.map((s) => (s as unknown as { readableChunk?: Buffer }).readableChunk)).size,
    }
  } finally {
    await pair.close()
  }
}

/** Send events a `QUICClient` re-dispatches (clones) while its connection sends one stream. */
async function clientSendEvents(lib: Library): Promise<number> {
  const pair = await connect(lib)
  try {
    let events = 0
    pair.client.addEventListener(lib.events.EventQUICConnectionSend.name, () => events++)
    await send(pair.client.connection, Buffer.alloc(32 * 1024))
    await waitFor(() => pair.serverStreams.length === 1)
    await readAll(pair.serverStreams[0] as QUICStream)
    return events
  } finally {
    await pair.close()
  }
}

/**
 * When the client's datagrams reach the kernel (its UDP handle's `send`), counted at three points
 * of one job: right after the first write's call, after a second write in the same job, and once
 * the job is over. With `fin`, the second step is the stream's close instead, and the first write
 * is marked to carry the FIN (`finWith`, a patch API the published library ignores). The last count
 * is taken once the server has the stream (with `fin`, all of it).
 */
async function datagramsOfOneJob(lib: Library, fin: boolean): Promise<{ inCall: number; inJob: number; after: number; received: string }> {
  const pair = await connect(lib)
  try {
    await pair.server()
    const udp = (pair.client as unknown as { socket: { socket: dgram.Socket } }).socket.socket
    // node:dgram keeps its UDP handle (whose `send` is the system call) under its 'state symbol'.
    const state = Object.getOwnPropertySymbols(udp).find((symbol) => symbol.description === 'state symbol')
    const handle = (udp as unknown as Record<symbol, { handle: { send: (...args: unknown[]) => unknown } } | undefined>)[state as symbol]?.handle
    if (handle === undefined) throw new Error("node:dgram's UDP handle not found")
    let sends = 0
    const kernelSend = handle.send
    handle.send = function (this: unknown, ...args: unknown[]) {
      sends++
      return kernelSend.apply(this, args)
    }
    const stream = pair.client.connection.newStream('bidi')
    const writer = stream.writable.getWriter()
    await new Promise((resolve) => setTimeout(resolve, 50)) // what the handshake still owes has gone
    sends = 0
    const first = Buffer.from('first')
    if (fin) (stream as unknown as { finWith?: Uint8Array }).finWith = first
    const written = writer.write(first)
    const inCall = sends
    await written
    await (fin ? writer.close() : writer.write(Buffer.from('+second')))
    const inJob = sends
    await waitFor(() => pair.serverStreams.length === 1)
    const served = pair.serverStreams[0] as QUICStream
    // Counted once the server has the stream (with `fin`, all of it): later datagrams are ACKs.
    const received = fin ? String(await readAll(served)) : ''
    return { inCall, inJob, after: sends, received }
  } finally {
    await pair.close()
  }
}

/**
 * Datagrams the server sends per exchange on one bidirectional stream: the
 * client writes 1 KiB and waits for it to come back; the server echoes each
 * chunk the moment it reads it (one exchange in flight, 40 of them).
 */
async function serverDatagramsPerEcho(lib: Library): Promise<number> {
  const pair = await connect(lib)
  try {
    const server = await pair.server()
    const stream = pair.client.connection.newStream('bidi')
    const writer = stream.writable.getWriter()
    const reader = stream.readable.getReader()
    const exchange = async (): Promise<void> => {
      await writer.write(Buffer.alloc(1024, 7))
      let received = 0
      while (received < 1024) {
        const { value, done } = await reader.read()
        if (done) throw new Error('echo stream ended early')
        received += value.byteLength
      }
    }
    const echoed = exchange()
    await waitFor(() => pair.serverStreams.length === 1)
    const echo = pair.serverStreams[0] as QUICStream
    void (async () => {
      const echoWriter = echo.writable.getWriter()
      for await (const chunk of echo.readable) await echoWriter.write(chunk)
    })().catch(() => {})
    await echoed
    const before = server.conn.stats().sent
    const exchanges = 40
    for (let i = 0; i < exchanges; i++) await exchange()
    // What the last exchange still owes goes out within two event-loop turns: let it, so it is counted.
    await new Promise((resolve) => setTimeout(resolve, 20))
    return (server.conn.stats().sent - before) / exchanges
  } finally {
    await pair.close()
  }
}

/**
 * A request/reply on a stream the client opens the moment its side of the
 * handshake is done, while the server still verifies the client's
 * certificate (its connection is `starting`): the reply, or what failed.
 */
async function streamWhileStarting(lib: Library, options: Parameters<typeof connect>[1]): Promise<string> {
  const pair = await connect(lib, options)
  try {
    const stream = pair.client.connection.newStream('bidi')
    const writer = stream.writable.getWriter()
    await writer.write(Buffer.from('early'))
    await writer.close()
    await pair.server()
    await waitFor(() => pair.serverStreams.length > 0, 1500)
    const request = pair.serverStreams[0] as QUICStream
    const reply = async (): Promise<void> => {
      const received = await readAll(request)
      const back = request.writable.getWriter()
      await back.write(Buffer.from(`reply to ${received.toString()}`))
      await back.close()
    }
    const [served, answer] = await Promise.allSettled([reply(), readAll(stream)])
    if (served.status === 'rejected') return `server failed: ${(served.reason as Error).constructor.name}`
    if (answer.status === 'rejected') return `client failed: ${(answer.reason as Error).constructor.name}`
    return answer.value.toString()
  } finally {
    await pair.close()
  }
}

/** The server verifies the client's certificate for 300 ms (its connection is `starting` meanwhile). */
const verifying = {
  serverConfig: { verifyPeer: true, verifyCallback: () => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 300)) },
  clientConfig: { key: tls.key, cert: tls.cert },
}

/** Run `script` under `node`, with the native binding made unloadable; its JSON output. */
function withoutNative(name: string): { imported: boolean; loaded?: boolean; importError?: string; error?: Record<string, unknown> } {
  const preload = fileURLToPath(new URL('./fixtures/no-native.cjs', import.meta.url))
  const script = fileURLToPath(new URL('./fixtures/import-without-native.mjs', import.meta.url))
  const out = execFileSync(process.execPath, ['--require', preload, script, name], { cwd: fileURLToPath(new URL('.', import.meta.url)), encoding: 'utf8' })
  return JSON.parse(out)
}

describe('events (vendored @matrixai/events): no EventDefault / EventAll wrappers without listeners', () => {
  it('dispatches an event nobody listens to once (the published library: 3 times)', () => {
    expect(dispatchesPerEvent(patched)).toBe(1)
    expect(dispatchesPerEvent(upstream)).toBe(3)
  })

  it('still delivers EventAll to its listeners', () => {
    const target = new patched.QUICSocket({})
    const seen: Event[] = []
    target.addEventListener('EventAll', (event: Event) => seen.push(event))
    target.dispatchEvent(new patched.events.EventQUICSocketStart())
    expect(seen).toHaveLength(1)
    expect((seen[0] as unknown as { detail: Event }).detail).toBeInstanceOf(patched.events.EventQUICSocketStart)
  })
})

describe('address checks (change 31)', () => {
  const hosts = ['127.0.0.1', '10.0.0.1', '1.2.3', '::1', '::', '::0', '0:0:0:0:0:0:0:0', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1',
    '::ffff:0.0.0.0', '::ffff:0:0', '::ffff:1:2:3', '0.0.0.0', 'localhost', 'example.com']
  const outcome = (f: () => unknown): unknown => {
    try {
      return f()
    } catch {
      return 'throws'
    }
  }
  type AddressUtils = Record<'isIPv4' | 'isIPv6' | 'isIPv4MappedIPv6' | 'isIPv4MappedIPv6Hex' | 'resolvesZeroIP' | 'buildAddress', (host: string, port?: number) => unknown>
  it('node:net answers as ip-num did, except that ::ffff:1:2:3 is no mapped IPv4 address (the published library then threw on it)', async () => {
    const ours = patched.utils as unknown as AddressUtils
    const theirs = (await import('@matrixai/quic')).utils as unknown as AddressUtils
    const differences: string[] = []
    for (const name of ['isIPv4', 'isIPv6', 'isIPv4MappedIPv6', 'isIPv4MappedIPv6Hex', 'resolvesZeroIP', 'buildAddress'] as const) {
      for (const host of hosts) {
        const [a, b] = [outcome(() => theirs[name](host, 1)), outcome(() => ours[name](host, 1))]
        if (a !== b) differences.push(`${name}(${host}): ${String(a)} -> ${String(b)}`)
      }
    }
    expect(differences).toEqual(['isIPv4MappedIPv6(::ffff:1:2:3): true -> false', 'resolvesZeroIP(::ffff:1:2:3): throws -> ::ffff:1:2:3'])
  })
})

describe('QUICConnection: per-datagram work', () => {
  it('processes streams once per burst of datagrams, not once per datagram', async () => {
    // Measured: patched 2 runs for 64 datagrams, published 128 for 128. A quarter leaves room for load.
    expect(await streamRunsPerDatagram(patched)).toBeLessThanOrEqual(0.25)
    expect(await streamRunsPerDatagram(upstream)).toBeGreaterThan(0.5)
  })

  it("walks quiche's stream sets only when they can hold something: none while an idle connection is pinged (published: two per datagram)", async () => {
    const patchedWalks = await streamSetWalksWhileIdle(patched)
    expect(patchedWalks.pings).toBeGreaterThanOrEqual(20)
    expect(patchedWalks.walks).toBe(0)
    const published = await streamSetWalksWhileIdle(upstream)
    expect(published.walks).toBeGreaterThanOrEqual(published.pings * 2)
  })

  it("runs quiche's timer on a plain Node timer, and shares one read buffer among a connection's streams", async () => {
    expect(await timerAndReadBuffers(patched)).toEqual({ nodeTimer: true, readBuffers: 1, sharedWithClient: true })
    expect(await timerAndReadBuffers(upstream)).toEqual({ nodeTimer: false, readBuffers: 2, sharedWithClient: false })
  })

  it('QUICClient does not clone its connection’s per-datagram send event', async () => {
    expect(await clientSendEvents(patched)).toBe(0)
    expect(await clientSendEvents(upstream)).toBeGreaterThan(0)
  })

  it('the first stream write of a job leaves inside the write call; writes that follow in the job leave together once its microtasks are done', async () => {
    // Patched: the first datagram is handed to the kernel during `write()` (dgram's lookup answers an
    // address at once), the second write waits for the job's end. Published: every datagram waits for a
    // `dns.lookup` tick, so none left within the job.
    expect(await datagramsOfOneJob(patched, false)).toMatchObject({ inCall: 1, inJob: 1, after: 2 })
    expect(await datagramsOfOneJob(upstream, false)).toMatchObject({ inCall: 0, inJob: 0, after: 2 })
  })

  it('a write marked finWith carries the FIN: data and end of stream in one datagram (published: two)', async () => {
    expect(await datagramsOfOneJob(patched, true)).toEqual({ inCall: 1, inJob: 1, after: 1, received: 'first' })
    expect(await datagramsOfOneJob(upstream, true)).toEqual({ inCall: 0, inJob: 0, after: 2, received: 'first' })
  })

  it('an answer written at once carries the ACK of what it answers (no ACK-only datagram before it)', async () => {
    const perEcho = await serverDatagramsPerEcho(patched)
    const published = await serverDatagramsPerEcho(upstream)
    // Measured: patched 1.0, published 2.0 (an ACK-only datagram, then the echo).
    expect(perEcho).toBeLessThanOrEqual(1.25)
    expect(published).toBeGreaterThanOrEqual(1.75)
  })
})

/**
 * Count the errors of `type` built from now on (they capture their stack
 * trace through `Error.captureStackTrace`, as ts-custom-error does) and the
 * `abort()`s without a reason (each builds a DOMException), until `restore()`.
 */
function watchErrors(type: abstract new (...args: never[]) => object) {
  const capture = Error.captureStackTrace
  const abort = AbortController.prototype.abort
  const watch = {
    built: 0,
    domExceptions: 0,
    stopCountingAborts(): void {
      AbortController.prototype.abort = abort
    },
    restore(): void {
      Error.captureStackTrace = capture
      AbortController.prototype.abort = abort
    },
  }
  Error.captureStackTrace = (target: object, fn?: Function) => {
    if (target instanceof type) watch.built++
    capture(target, fn)
  }
  AbortController.prototype.abort = function (this: AbortController, reason?: unknown) {
    if (reason === undefined) watch.domExceptions++
    abort.call(this, reason)
  }
  return watch
}

describe('@matrixai/async-locks (vendored)', () => {
  it("an RWLockWriter forgets its last acquisition once released (the published one keeps it, and its timer, for the lock's life)", async () => {
    const vendored = await import('@crust/quic-lib/vendor/async-locks/index.js')
    const published = await import('@matrixai/async-locks')
    for (const [lib, forgets] of [
      [vendored, true],
      [published, false],
    ] as const) {
      const lock = new lib.RWLockWriter()
      const kept = lock as unknown as { readersRelease?: unknown; acquireReadersLockP?: unknown }
      // Two readers at once, then a writer, then a reader: the lock still excludes and admits as before.
      const order: string[] = []
      await Promise.all([
        lock.withReadF(async () => {
          order.push('r1')
          await new Promise((resolve) => setTimeout(resolve, 5))
        }),
        lock.withReadF(async () => void order.push('r2')),
        lock.withWriteF(async () => void order.push('w')),
      ])
      expect(kept.readersRelease === undefined).toBe(forgets)
      await lock.withReadF(async () => void order.push('r3'))
      expect(order).toEqual(['r1', 'r2', 'w', 'r3'])
      expect(kept.readersRelease === undefined && kept.acquireReadersLockP === undefined).toBe(forgets)
      expect(lock.isLocked()).toBe(false)
    }
  })

  it('a timed lock builds its timeout error only when it times out, and no DOMException when it ends (the published one builds both per acquisition)', async () => {
    const vendored = await import('@crust/quic-lib/vendor/async-locks/index.js')
    const published = await import('@matrixai/async-locks')
    for (const [lib, perAcquisition] of [
      [vendored, 0],
      [published, 1],
    ] as const) {
      const watch = watchErrors(lib.errors.ErrorAsyncLocksTimeout)
      try {
        const lock = new lib.RWLockWriter()
        for (let i = 0; i < 3; i++) await lock.withWriteF({ timer: 1000 }, async () => {})
        await lock.withReadF({ timer: 1000 }, async () => {})
        watch.stopCountingAborts()
        expect(watch.built).toBe(4 * perAcquisition)
        if (perAcquisition === 0) expect(watch.domExceptions).toBe(0)
        else expect(watch.domExceptions).toBeGreaterThanOrEqual(4)
        // A lock that is held past the timeout still fails with the timeout error.
        watch.built = 0
        const held = lock.withWriteF(() => new Promise((resolve) => setTimeout(resolve, 100)))
        await expect(lock.withWriteF({ timer: 10 }, async () => {})).rejects.toBeInstanceOf(lib.errors.ErrorAsyncLocksTimeout)
        await held
        expect(watch.built).toBeGreaterThanOrEqual(1)
      } finally {
        watch.restore()
      }
    }
  })
})

describe('@matrixai/async-cancellable (vendored)', () => {
  /** AbortControllers built while `f` runs (and what it awaits). */
  async function controllersBuilt(f: () => Promise<unknown>): Promise<number> {
    const original = globalThis.AbortController
    let built = 0
    globalThis.AbortController = class extends original {
      constructor() {
        super()
        built++
      }
    }
    try {
      await f()
    } finally {
      globalThis.AbortController = original
    }
    return built
  }

  it('builds no AbortController for a promise nobody cancels: an await, a then, a catch (the published one: two per step)', async () => {
    const vendored = (await import('@crust/quic-lib/vendor/async-cancellable/index.js')).PromiseCancellable
    const published = (await import('@matrixai/async-cancellable')).PromiseCancellable
    const steps = (PC: typeof published) => async () => {
      await new PC<number>((resolve) => resolve(1))
      await new PC<number>((resolve) => resolve(2)).then((v) => v + 1)
      await new PC<number>((_, reject) => reject(new Error('x'))).catch(() => 3)
    }
    expect(await controllersBuilt(steps(vendored as unknown as typeof published))).toBe(0)
    expect(await controllersBuilt(steps(published))).toBeGreaterThanOrEqual(6)
  })

  it('still cancels: cancel() rejects with its reason, a handler that takes a signal gets one, all() cancels', async () => {
    const { PromiseCancellable } = await import('@crust/quic-lib/vendor/async-cancellable/index.js')
    const pending = new PromiseCancellable<number>(() => {})
    pending.cancel('stop')
    await expect(pending).rejects.toBe('stop')
    const controllerOf = (p: object) => (p as unknown as { abortController: AbortController }).abortController
    expect(controllerOf(pending).signal.aborted).toBe(true)
    const signals: AbortSignal[] = []
    const chained = new PromiseCancellable<number>((resolve) => resolve(1)).then((v: number, signal?: AbortSignal) => {
      if (signal) signals.push(signal)
      return v
    })
    await chained
    expect(signals).toHaveLength(1)
    expect(signals[0]).toBe(controllerOf(chained).signal)
    const all = PromiseCancellable.all([new Promise(() => {})])
    all.cancel(new Error('cancelled'))
    await expect(all).rejects.toThrow('cancelled')
    const withSignal = new PromiseCancellable<void>((_resolve, reject, signal) => signal.addEventListener('abort', () => reject('aborted')))
    withSignal.cancel()
    await expect(withSignal).rejects.toBe('aborted')
  })
})

describe('@matrixai/contexts (vendored)', () => {
  it('a timed call builds its timeout error only when it times out, and no DOMException when it ends (the published one builds both per call)', async () => {
    const vendored = await import('@crust/quic-lib/vendor/contexts/index.js')
    const published = await import('@matrixai/contexts')
    for (const [lib, perCall] of [
      [vendored, 0],
      [published, 1],
    ] as const) {
      const watch = watchErrors(lib.errors.ErrorContextsTimedTimeOut)
      try {
        // As the library's start() and createQUICClient() use it: lazy, their own timer, or one inherited.
        const quick = lib.functions.timedCancellable(async () => 'done', true, 1000)
        for (let i = 0; i < 3; i++) expect(await quick({})).toBe('done')
        expect(await quick({ timer: 500 })).toBe('done')
        watch.stopCountingAborts()
        expect(watch.built).toBe(4 * perCall)
        if (perCall === 0) expect(watch.domExceptions).toBe(0)
        else expect(watch.domExceptions).toBeGreaterThanOrEqual(4)
        // A call that outlives its timer still fails with the timeout error.
        watch.built = 0
        const slow = lib.functions.timedCancellable(
          (ctx: { signal: AbortSignal }) =>
            new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })),
          false,
          10,
        )
        await expect(slow({})).rejects.toBeInstanceOf(lib.errors.ErrorContextsTimedTimeOut)
        expect(watch.built).toBeGreaterThanOrEqual(1)
      } finally {
        watch.restore()
      }
    }
  })
})

describe('QUICConnection: streams that arrive while the connection is starting', () => {
  it('are accepted: a request sent while the server verifies the client is answered', async () => {
    // The published library resets such a stream only in an interleaving that needs lost datagrams
    // (a relay dropping the client's Finished and the datagrams after it did not reproduce it
    // deterministically), so this guards the fix rather than reproducing the race; the
    // transport's 5 %-loss test (defects.test.ts) runs into it.
    expect(await streamWhileStarting(patched, verifying)).toBe('reply to early')
  })

  it('a close right after connecting still completes (handshake replies stay inline)', async () => {
    const pair = await connect(patched)
    try {
      for (let i = 0; i < 5; i++) {
        const client = await patched.QUICClient.createQUICClient({
          host: '127.0.0.1',
          port: (await pair.server()).localPort,
          crypto: clientCrypto,
          config: { verifyPeer: false },
          logger,
        })
        const stalled = new Promise((_, reject) => setTimeout(() => reject(new Error(`destroy ${i} stalled`)), 3000))
        await Promise.race([client.destroy({ force: true }), stalled])
      }
    } finally {
      await pair.close()
    }
  })
})

describe('QUICSocket hooks', () => {
  it('onForeignDatagram receives datagrams that are not QUIC (the published library drops them)', async () => {
    for (const [lib, expected] of [
      [patched, 1],
      [upstream, 0],
    ] as const) {
      const received: Buffer[] = []
      const socket = new lib.QUICSocket({ logger, onForeignDatagram: (data) => received.push(data) })
      await socket.start({ host: '127.0.0.1', port: 0 })
      const sender = dgram.createSocket('udp4')
      try {
        // A STUN binding request starts with two zero bits: the QUIC fixed bit is clear.
        await new Promise<void>((resolve, reject) => sender.send(Buffer.from([0x00, 0x01, 0x00, 0x00]), socket.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())))
        await new Promise((resolve) => setTimeout(resolve, 100))
        expect(received.length).toBe(expected)
      } finally {
        sender.close()
        await socket.stop({ force: true })
      }
    }
  })

  it("onSendError decides whether a failed send throws or counts as a lost datagram", async () => {
    const seen: unknown[] = []
    const dropping = new patched.QUICSocket({
      logger,
      onSendError: (error) => {
        seen.push(error)
        return 'drop'
      },
    })
    const plain = new patched.QUICSocket({ logger })
    for (const socket of [dropping, plain]) await socket.start({ host: '127.0.0.1', port: 0 })
    try {
      const tooBig = Buffer.alloc(70_000) // over the UDP maximum: EMSGSIZE
      expect(await dropping.send_(tooBig, 0, tooBig.length, 9, '127.0.0.1')).toBe(0)
      expect((seen[0] as { code?: string }).code).toBe('EMSGSIZE')
      await expect(plain.send_(tooBig, 0, tooBig.length, 9, '127.0.0.1')).rejects.toThrow()
    } finally {
      for (const socket of [dropping, plain]) await socket.stop({ force: true })
    }
  })

  it('onMessageError receives what the datagram handler throws (otherwise an unhandled rejection)', async () => {
    const errors: unknown[] = []
    const socket = new patched.QUICSocket({ logger, onMessageError: (error) => errors.push(error) })
    await socket.start({ host: '127.0.0.1', port: 0 })
    const server = new patched.QUICServer({
      crypto: serverCrypto,
      socket,
      config: { key: tls.key, cert: tls.cert },
      logger,
      acceptGate: async () => {
        throw new Error('gate failed')
      },
    })
    await server.start()
    try {
      const client = patched.QUICClient.createQUICClient(
        { host: '127.0.0.1', port: socket.port, crypto: clientCrypto, config: { verifyPeer: false }, logger },
        { timer: 300 },
      )
      await expect(client).rejects.toThrow()
      expect(errors.length).toBeGreaterThan(0)
      expect((errors[0] as Error).message).toBe('gate failed')
    } finally {
      await server.stop({ force: true })
      await socket.stop({ force: true })
    }
  })

  it('exposes its dgram socket, its connection count, and the connection for an id', async () => {
    const pair = await connect(patched)
    try {
      const server = await pair.server()
      const socket = (server as unknown as { socket: InstanceType<Library['QUICSocket']> }).socket
      expect(socket.udpSocket?.address().port).toBe(socket.port)
      expect(socket.connectionCount).toBe(1)
      expect(socket.getConnection(server.connectionId)).toBe(server)
    } finally {
      await pair.close()
    }
  })
})

describe('QUICServer acceptGate', () => {
  it('sees every would-be connection before the server does anything; not calling accept drops it', async () => {
    for (const [lib, gated] of [
      [patched, true],
      [upstream, false],
    ] as const) {
      const socket = new lib.QUICSocket({ logger })
      await socket.start({ host: '127.0.0.1', port: 0 })
      const attempts: number[] = []
      const server = new lib.QUICServer({
        crypto: serverCrypto,
        socket,
        config: { key: tls.key, cert: tls.cert },
        logger,
        acceptGate: async ({ header }) => {
          attempts.push(header.ty)
        },
      })
      await server.start()
      const client = lib.QUICClient.createQUICClient(
        { host: '127.0.0.1', port: socket.port, crypto: clientCrypto, config: { verifyPeer: false }, logger },
        { timer: 500 },
      )
      const outcome = await client.then(
        async (connected) => {
          await connected.destroy({ force: true })
          return 'connected'
        },
        () => 'refused',
      )
      try {
        expect(outcome).toBe(gated ? 'refused' : 'connected')
        expect(attempts.length > 0).toBe(gated)
        if (gated) {
          expect(attempts[0]).toBe(lib.native.quiche.Type.Initial)
          expect(socket.connectionCount).toBe(0)
        }
      } finally {
        await server.stop({ force: true })
        await socket.stop({ force: true })
      }
    }
  })
})

describe('QUICConnection onRecv', () => {
  it('is called for every datagram, with the promise of its processing', async () => {
    const pair = await connect(patched)
    try {
      const server: QUICConnection = await pair.server()
      // Let the handshake's last packets land first: quiche drops (and does not count) a late
      // Handshake-level packet once it discarded those keys, which made this count one short now and then.
      await new Promise((resolve) => setTimeout(resolve, 100))
      let calls = 0
      const processed: Promise<void>[] = []
      server.onRecv = (done) => {
        calls++
        processed.push(done)
      }
      const before = server.conn.stats().recv
      await send(pair.client.connection, Buffer.alloc(16 * 1024))
      await waitFor(() => pair.serverStreams.length === 1)
      await readAll(pair.serverStreams[0] as QUICStream)
      await Promise.all(processed)
      expect(calls).toBe(server.conn.stats().recv - before)
    } finally {
      await pair.close()
    }
  })
})

describe('the native binding loads on first use', () => {
  it('importing succeeds without it; loadQuiche() then throws NativeBindingError naming the package (the published library throws on import)', () => {
    const ours = withoutNative('@crust/quic-lib')
    expect(ours.imported).toBe(true)
    expect(ours.loaded).toBe(false)
    expect(ours.error?.isNativeBindingError).toBe(true)
    expect(ours.error?.message).toContain(`${process.platform}-${process.arch}`)
    expect(ours.error?.packages).toContain(`@matrixai/quic-${process.platform}-${process.arch}`)
    const theirs = withoutNative('@matrixai/quic')
    expect(theirs.imported).toBe(false)
    expect(theirs.importError).toContain('Failed requiring possible native bindings')
  })

  it('loads it in a normal process', () => {
    expect(patched.native.loadQuiche().MAX_DATAGRAM_SIZE).toBeGreaterThan(1200)
  })
})

describe('a close during the handshake', () => {
  /** How long a client offering ALPN `b` to a server offering `a` takes to learn the handshake failed (ms). */
  async function alpnRefusal(lib: Library): Promise<{ client: number; server?: number }> {
    const socket = new lib.QUICSocket({ logger })
    await socket.start({ host: '127.0.0.1', port: 0 })
    let serverFailedAt: number | undefined
    const gate =
      lib === patched
        ? {
            acceptGate: async (attempt: { dcid: InstanceType<Library['QUICConnectionId']> }, accept: (dcid: InstanceType<Library['QUICConnectionId']>) => Promise<unknown>) => {
              await accept(attempt.dcid).catch(() => (serverFailedAt = performance.now()))
            },
          }
        : {}
    const server = new lib.QUICServer({ crypto: serverCrypto, socket, config: { key: tls.key, cert: tls.cert, applicationProtos: ['a'] }, logger, ...gate })
    await server.start()
    const started = performance.now()
    try {
      await lib.QUICClient.createQUICClient(
        { host: '127.0.0.1', port: socket.port, crypto: clientCrypto, config: { verifyPeer: false, applicationProtos: ['b'] }, logger },
        { timer: 10_000 },
      ).then(
        (client) => client.destroy({ force: true }),
        () => {},
      )
      const client = performance.now() - started
      await waitFor(() => lib !== patched || serverFailedAt !== undefined)
      return { client, ...(serverFailedAt === undefined ? {} : { server: serverFailedAt - started }) }
    } finally {
      await server.stop({ force: true }).catch(() => {})
      await socket.stop({ force: true })
    }
  }

  it('rejects start() on both sides as soon as the close is sent or received (the published library: after the draining period, ~3 s)', async () => {
    const ours = await alpnRefusal(patched)
    const theirs = await alpnRefusal(upstream)
    expect(ours.client).toBeLessThan(500)
    expect(ours.server).toBeLessThan(500)
    expect(theirs.client).toBeGreaterThan(2000)
  }, 20_000)
})

describe('per-connection config and stateless reset tokens', () => {
  it("accept() takes config overrides for that connection only (the datagram size for the client's path)", async () => {
    const socket = new patched.QUICSocket({ logger })
    await socket.start({ host: '127.0.0.1', port: 0 })
    const accepted: QUICConnection[] = []
    const server = new patched.QUICServer({
      crypto: serverCrypto,
      socket,
      config: { key: tls.key, cert: tls.cert, maxSendUdpPayloadSize: 65_000 },
      logger,
      // A minimal gate: a Retry whose token is the original DCID (test only), then accept with an override.
      acceptGate: retryGate(socket, async (original, accept) => {
        const connection = await accept(original, { maxSendUdpPayloadSize: 1234 })
        if (connection) accepted.push(connection)
      }),
    })
    await server.start()
    const client = await patched.QUICClient.createQUICClient({
      host: '127.0.0.1',
      port: socket.port,
      crypto: clientCrypto,
      config: { verifyPeer: false, maxRecvUdpPayloadSize: 65_000 },
      logger,
    })
    try {
      await waitFor(() => accepted.length === 1)
      expect(accepted[0]?.conn.maxSendUdpPayloadSize()).toBe(1234)
    } finally {
      await client.destroy({ force: true })
      await server.stop({ force: true })
      await socket.stop({ force: true })
    }
  })

  it('connections with the same TLS settings share one quiche Config (one BoringSSL context); the published library builds one per connection', async () => {
    const shared = await import('@crust/quic-lib/config.js')
    const published = await import(new URL('config.js', import.meta.resolve('@matrixai/quic')).href)
    const base = { ...shared.serverDefault, key: tls.key, cert: tls.cert }
    const first = shared.buildQuicheConfig(base)
    expect(shared.buildQuicheConfig({ ...base, maxIdleTimeout: 1234, initialMaxStreamsBidi: 7 })).toBe(first)
    expect(shared.buildQuicheConfig({ ...base, verifyPeer: !base.verifyPeer })).not.toBe(first)
    expect(shared.buildQuicheConfig({ ...base, applicationProtos: ['other'] })).toBe(first)
    const publishedBase = { ...published.serverDefault, key: tls.key, cert: tls.cert }
    expect(published.buildQuicheConfig(publishedBase)).not.toBe(published.buildQuicheConfig(publishedBase))
  })

  it("one connection's settings do not carry over to the next from the shared Config", async () => {
    const socket = new patched.QUICSocket({ logger })
    await socket.start({ host: '127.0.0.1', port: 0 })
    let attempts = 0
    const server = new patched.QUICServer({
      crypto: serverCrypto,
      socket,
      config: { key: tls.key, cert: tls.cert, maxRecvUdpPayloadSize: 1500 },
      logger,
      acceptGate: retryGate(socket, async (original, accept) => {
        // The first client gets overrides, the second none.
        const override = attempts++ === 0 ? { maxRecvUdpPayloadSize: 1234, ackDelayExponent: 5 } : {}
        await accept(original, override)
      }),
    })
    await server.start()
    const dial = () =>
      patched.QUICClient.createQUICClient({ host: '127.0.0.1', port: socket.port, crypto: clientCrypto, config: { verifyPeer: false }, logger })
    const clients = [await dial(), await dial()]
    try {
      const advertised = clients.map((client) => {
        const stats = client.connection.conn.stats()
        return { size: stats.peerMaxUdpPayloadSize, exponent: stats.peerAckDelayExponent }
      })
      expect(advertised).toEqual([
        { size: 1234, exponent: 5 },
        { size: 1500, exponent: 3 },
      ])
    } finally {
      for (const client of clients) await client.destroy({ force: true })
      await server.stop({ force: true })
      await socket.stop({ force: true })
    }
  })

  it('a server advertises statelessResetToken; a datagram ending in it closes the client connection at once (the published library ignores the option)', async () => {
    const token = 0x0123456789abcdef0123456789abcdefn
    const tokenBytes = Buffer.from(token.toString(16).padStart(32, '0'), 'hex')
    for (const [lib, honoured] of [
      [patched, true],
      [upstream, false],
    ] as const) {
      const pair = await connect(lib, { serverConfig: { statelessResetToken: token } })
      try {
        const connection = pair.client.connection
        // A stateless reset (RFC 9000 §10.3): a short header with the fixed bit, unpredictable bytes, the token last.
        const reset = Buffer.concat([Buffer.from([0x40 | 0x15]), Buffer.alloc(26, 0x5a), tokenBytes])
        const server = await pair.server()
        await connection.recv(reset, { host: '127.0.0.1', port: server.localPort } as Parameters<QUICConnection['recv']>[1])
        const errors: unknown[] = []
        connection.addEventListener(lib.events.EventQUICConnectionError.name, (event: Event) => errors.push((event as CustomEvent).detail))
        expect(connection.conn.isClosed()).toBe(honoured)
        if (honoured) {
          expect(connection.conn.peerError()).toBeNull()
          expect(connection.conn.isTimedOut()).toBe(false)
          // Reported once, so the client is destroyed (before the event, destroy() never returned).
          await waitFor(() => errors.length > 0)
          expect(errors).toHaveLength(1)
          expect(errors[0]).toBeInstanceOf(patched.errors.ErrorQUICConnectionStatelessReset)
        }
      } finally {
        await pair.close()
      }
    }
  })
})

describe('change 26: the wait for data', () => {
  it('a stream woken with nothing to read waits again (reading at once failed it as internal, and the connection rethrew: the process crashed)', async () => {
    const pair = await connect(patched)
    try {
      const { writer, served: serverStream } = await openedStream(pair, Buffer.from('first'))
      const errors: unknown[] = []
      serverStream.addEventListener(patched.events.EventQUICStreamError.name, (event: Event) => errors.push((event as CustomEvent).detail))
      const reader = serverStream.readable.getReader()
      expect(Buffer.from((await reader.read()).value ?? []).toString()).toBe('first')
      const next = reader.read()
      await new Promise((resolve) => setTimeout(resolve, 50))
      // The pull now waits for data; wake it with nothing to read (as when the data it was woken for is gone).
      const internals = serverStream as unknown as { resolveReadableP: () => void; connection: QUICConnection; streamId: number }
      expect(internals.connection.conn.streamReadable(internals.streamId)).toBe(false)
      internals.resolveReadableP()
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(errors).toEqual([])
      await writer.write(Buffer.from('second'))
      await writer.close()
      expect(Buffer.from((await next).value ?? []).toString()).toBe('second')
    } finally {
      await pair.close()
    }
  })
})

describe('change 35: direct streams (config.directStreams; the published library has none)', () => {
  const direct = { serverConfig: { directStreams: true }, clientConfig: { directStreams: true } }
  /** Every chunk of a direct stream until its FIN. */
  async function readToEnd(stream: QUICStream): Promise<string> {
    const chunks: Uint8Array[] = []
    for (;;) {
      const { done, value } = await stream.directRead()
      if (done) return Buffer.concat(chunks).toString()
      chunks.push(value)
    }
  }

  it('build no Web Streams; writes, the FIN and the reply cross in order', async () => {
    expect('directRead' in upstream.QUICStream.prototype).toBe(false)
    const pair = await connect(patched, direct)
    try {
      const stream = pair.client.connection.newStream('bidi')
      expect(stream.readable).toBeUndefined()
      expect(stream.writable).toBeUndefined()
      const writes = [stream.directWrite(Buffer.from('hello ')), stream.directWrite(Buffer.from('world')), stream.directClose()]
      await Promise.all(writes)
      await waitFor(() => pair.serverStreams.length === 1)
      const served = pair.serverStreams[0] as QUICStream
      expect(served.readable).toBeUndefined()
      expect(await readToEnd(served)).toBe('hello world')
      await served.directWrite(Buffer.from('ok'))
      await served.directClose()
      expect(await readToEnd(stream)).toBe('ok')
      // Written after the end: refused, as a closed Web Stream refuses it.
      await expect(stream.directWrite(Buffer.from('late'))).rejects.toThrow(TypeError)
    } finally {
      await pair.close()
    }
  })

  it('take bytes out of quiche only when read: a writer past the stream window waits until the reader reads', async () => {
    const pair = await connect(patched, direct)
    try {
      const stream = pair.client.connection.newStream('bidi')
      const size = 4 * 1024 * 1024 // four times the default stream window
      let written = false
      const writing = stream.directWrite(Buffer.alloc(size, 1)).then(() => {
        written = true
      })
      await waitFor(() => pair.serverStreams.length === 1)
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(written).toBe(false)
      const served = pair.serverStreams[0] as QUICStream
      let received = 0
      while (received < size) {
        const { done, value } = await served.directRead()
        if (done) break
        received += value.byteLength
      }
      await writing
      expect(received).toBe(size)
    } finally {
      await pair.close()
    }
  })

  it("a reader's cancel stops the peer's writes (STOP_SENDING); a reset fails the peer's read with its reason", async () => {
    const pair = await connect(patched, direct)
    try {
      const stream = pair.client.connection.newStream('bidi')
      await stream.directWrite(Buffer.from('x'))
      await waitFor(() => pair.serverStreams.length === 1)
      const served = pair.serverStreams[0] as QUICStream
      expect(Buffer.from((await served.directRead()).value ?? []).toString()).toBe('x')
      await stream.directCancel(new Error('not reading'))
      // The server's writes fail once the client's STOP_SENDING arrived.
      let failure: unknown
      for (let i = 0; i < 100 && failure === undefined; i++) {
        await served.directWrite(Buffer.from('y')).catch((error: unknown) => {
          failure = error
        })
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      expect(failure).toBeInstanceOf(Error)
      // The client resets its side: the server's read fails with the reason of the reset's code.
      const next = served.directRead()
      stream.cancel(new Error('gone'))
      await expect(next).rejects.toThrow('read 0')
    } finally {
      await pair.close()
    }
  })

  it('a unidirectional direct stream: the opener only writes, the acceptor only reads', async () => {
    const pair = await connect(patched, direct)
    try {
      const stream = pair.client.connection.newStream('uni')
      expect(await stream.directRead()).toEqual({ done: true, value: undefined })
      await stream.directWrite(Buffer.from('one way'))
      await stream.directClose()
      await waitFor(() => pair.serverStreams.length === 1)
      const served = pair.serverStreams[0] as QUICStream
      await expect(served.directWrite(Buffer.from('back'))).rejects.toThrow(TypeError)
      expect(await readToEnd(served)).toBe('one way')
    } finally {
      await pair.close()
    }
  })
})

describe('@matrixai/timer (vendored)', () => {
  it('a Timer without a deadline starts no libuv timer (the published one an interval, for its whole life); one with a deadline still fires', async () => {
    type TimerClass = typeof import('@matrixai/timer').Timer
    const vendored = (await import('@crust/quic-lib/vendor/timer/index.js')).Timer as unknown as TimerClass
    const published = (await import('@matrixai/timer')).Timer
    for (const [Timer, intervals] of [
      [vendored, 0],
      [published, 1],
    ] as const) {
      const original = globalThis.setInterval
      let started = 0
      globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
        started++
        return original(...args)
      }) as typeof setInterval
      try {
        const timer = new Timer(() => 'never', Infinity)
        expect(started).toBe(intervals)
        expect(timer.getTimeout()).toBe(Infinity)
        timer.cancel(new Error('done'))
        await expect(timer).rejects.toThrow('done')
      } finally {
        globalThis.setInterval = original
      }
      expect(await new Timer(() => 'fired', 1)).toBe('fired')
    }
  })
})

describe('change 36: a stream closed both ways', () => {
  it('is destroyed on the next turn of the event loop, after its reader had its last bytes, and leaves the connection', async () => {
    const pair = await connect(patched)
    try {
      const { writer, served } = await openedStream(pair, Buffer.from('ask'))
      await writer.close()
      expect((await readAll(served)).toString()).toBe('ask')
      const reply = served.writable.getWriter()
      const destroyed = new Promise((resolve) => served.addEventListener(patched.events.EventQUICStreamDestroyed.name, resolve, { once: true }))
      await reply.write(Buffer.from('answer'))
      await reply.close()
      await destroyed
      const server = await pair.server()
      expect(server.streamMap.has(served.streamId)).toBe(false)
      const client = [...pair.client.connection.streamMap.values()][0] as QUICStream
      const { initLock } = await import('@crust/quic-lib/vendor/async-init/index.js')
      const lock = (client as unknown as Record<symbol, { isLocked(): boolean }>)[initLock] as { isLocked(): boolean }
      // The answer and its FIN came in one packet: the read that delivers them closed the stream both
      // ways. Its destroy (a write lock, then events) has not started when the reader has the bytes.
      const reader = client.readable.getReader()
      const { value } = await reader.read()
      expect(Buffer.from(value ?? []).toString()).toBe('answer')
      expect(lock.isLocked()).toBe(false)
      expect((await reader.read()).done).toBe(true)
      await waitFor(() => pair.client.connection.streamMap.size === 0)
    } finally {
      await pair.close()
    }
  })
})
