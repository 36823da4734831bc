/**
 * One test (or more) per known defect of @matrixai/quic 2.0.9, showing that
 * Crust users cannot run into it.
 */
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import {
  AbortError,
  AuthenticationError,
  CloseCode,
  ConnectionClosedError,
  type SecurityContext,
  TimeoutError,
  type TransportStream,
} from '@crust/core'
import { type QUICSocket, errors } from '@crust/quic-lib'
import { describe, expect, it } from 'vitest'
import { verifyCallback } from '../src/verify.js'
import { MAX_PEER_CHANNELS } from '../src/message-channel.js'
import { connectedPair, libraryConnectionOf, makeTransport, newSecurity, readAll, sleep, startNode, waitFor } from './helpers.js'
import { UdpRelay } from './relay.js'

describe('defect 1: newStream() beyond the peer credit breaks the connection for good', () => {
  it('is real in the library: one ErrorQUICStreamLimit, then every newStream() throws', async () => {
    const { conn } = await connectedPair({ limits: { maxInboundStreams: 4 } })
    const quic = libraryConnectionOf(conn)
    for (let i = 0; i < 4 + MAX_PEER_CHANNELS; i++) quic.newStream('bidi')
    expect(() => quic.newStream('bidi')).toThrow(errors.ErrorQUICStreamLimit)
    expect(() => quic.newStream('bidi')).toThrow(errors.ErrorQUICUndefinedBehaviour)
  })

  it('never happens through openStream: it waits for credit, then every stream works', async () => {
    const { conn, inbound } = await connectedPair({ limits: { maxInboundStreams: 8 } })
    const held: TransportStream[] = []
    inbound.onStream((stream) => held.push(stream))
    const opened: TransportStream[] = []
    const requests = Array.from({ length: 30 }, async (_, i) => {
      const stream = await conn.openStream({ bidirectional: true })
      opened.push(stream)
      await stream.write(Buffer.from(`m${i}`), { end: true })
      return (await readAll(stream)).toString()
    })
    await waitFor(() => opened.length === 8, 5000, 'the first 8 streams')
    await sleep(300)
    // The listener holds its 8 streams open: the other 22 wait for MAX_STREAMS instead of failing.
    expect(opened.length).toBe(8)
    // The listener now serves every stream: credit returns and the waiters go on.
    const serve = async (stream: TransportStream) => {
      const data = await readAll(stream)
      if (stream.bidirectional) await stream.write(Buffer.concat([Buffer.from('ok:'), data]), { end: true })
    }
    inbound.onStream((stream) => void serve(stream))
    for (const stream of held.splice(0)) void serve(stream)
    const answers = await Promise.all(requests)
    expect(answers.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `ok:m${i}`).sort())
    // Unidirectional streams past the credit work the same way.
    await Promise.all(
      Array.from({ length: 30 }, async () => (await conn.openStream({ bidirectional: false })).write(Buffer.from('u'), { end: true })),
    )
    // The connection still opens streams normally afterwards.
    const after = await conn.openStream({ bidirectional: true })
    await after.write(Buffer.from('after'), { end: true })
    expect((await readAll(after)).toString()).toBe('ok:after')
  })

  it('lets a wait for credit be aborted, and fails waits when the connection closes', async () => {
    const { conn, inbound } = await connectedPair({ limits: { maxInboundStreams: 2 } })
    inbound.onStream(() => {})
    for (let i = 0; i < 2; i++) await (await conn.openStream({ bidirectional: true })).write(Buffer.from('x'))
    const controller = new AbortController()
    const aborted = conn.openStream({ bidirectional: true, signal: controller.signal })
    const closing = conn.openStream({ bidirectional: true })
    controller.abort()
    await expect(aborted).rejects.toBeInstanceOf(AbortError)
    // Listen before closing: the wait may fail while close() is still running ("closing") or after ("closed").
    const closingFails = expect(closing).rejects.toBeInstanceOf(ConnectionClosedError)
    await conn.close({ code: CloseCode.NORMAL, reason: 'bye' })
    await closingFails
  })
})

describe('defect 2: a throwing verifyCallback is an unhandled rejection (process crash)', () => {
  /** A security context whose verification throws a plain TypeError once. */
  function throwingOnce(base: SecurityContext): SecurityContext & { thrown: number } {
    const wrapped = {
      ...base,
      thrown: 0,
      verifyRemote: (der: Uint8Array | undefined, expected?: string) => {
        if (wrapped.thrown === 0) {
          wrapped.thrown++
          throw new TypeError('verification blew up')
        }
        return base.verifyRemote(der, expected)
      },
    }
    return wrapped
  }

  it('our callback only ever resolves to a code, even if everything inside throws', async () => {
    const security = await newSecurity()
    const exploding = { ...security, verifyRemote: () => { throw new TypeError('boom') } } as SecurityContext
    const callback = verifyCallback(exploding, {
      onVerdict: () => {
        throw new Error('observer fails too')
      },
    })
    await expect(callback([new Uint8Array([1, 2, 3])], [])).resolves.toBeGreaterThanOrEqual(0x100)
    await expect(callback([], [])).resolves.toBe(0x100 + 116) // certificate_required
    await expect(callback(undefined as unknown as Uint8Array[], [])).resolves.toBeGreaterThanOrEqual(0x100)
  })

  it('a verification that throws refuses the peer (typed on both sides) and the node goes on', async () => {
    const server = await makeTransport({ security: throwingOnce(await newSecurity()) })
    const client = await makeTransport({ listen: false })
    const outcome = await client.transport.dial(server.address()).then(
      async (conn) => (await conn.closed).code,
      (error: unknown) => error,
    )
    if (typeof outcome === 'number') expect(outcome).toBe(CloseCode.AUTH_FAILED)
    else expect(outcome).toBeInstanceOf(AuthenticationError)
    await waitFor(() => server.failures.length === 1)
    expect(server.failures[0]!.error).toBeInstanceOf(AuthenticationError)
    // The next attempt is verified normally. (No unhandled rejection: checked after each test.)
    const conn = await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId })
    expect(conn.remotePeer.peerId).toBe(server.security.peerId)
  })
})

describe('defect 3: a connect to a silent port never settles', () => {
  it('is bounded by the handshake timeout', async () => {
    const silent = createSocket('udp4')
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve))
    const client = await makeTransport({ listen: false, limits: { handshakeTimeout: 500 } })
    const started = Date.now()
    await expect(client.transport.dial(`quic://127.0.0.1:${silent.address().port}`)).rejects.toBeInstanceOf(TimeoutError)
    expect(Date.now() - started).toBeLessThan(2500)
    await waitFor(() => client.transport.connectionCount === 0, 5000, 'the attempt to be cleaned up')
    silent.close()
  })

  it('also through createNode: connect() fails with TimeoutError', async () => {
    const silent = createSocket('udp4')
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve))
    const node = await startNode({ connection: { handshakeTimeout: 400, dialTimeout: 1000 }, retry: { maxAttempts: 1 } })
    await expect(node.connect({ addresses: [`quic://127.0.0.1:${silent.address().port}`] })).rejects.toBeInstanceOf(TimeoutError)
    silent.close()
  })
})

describe('defects 4 and 6: a killed peer is never detected; vanished clients stay in the server map', () => {
  const limits = { idleTimeout: 900, keepAliveInterval: 200 }

  it('keep-alives hold a quiet connection open; a vanished peer is detected on both sides and reaped', async () => {
    const server = await makeTransport({ limits })
    const relay = await UdpRelay.start({ host: '127.0.0.1', port: server.transport.localEndpoint!.port })
    const client = await makeTransport({ limits, listen: false })
    const conn = await client.transport.dial(relay.address)
    await waitFor(() => server.inbound.length === 1)
    expect(server.transport.connectionCount).toBe(1)
    await sleep(2000) // more than twice the idle timeout, with no application traffic
    expect(client.transport.connectionCount).toBe(1)
    expect(server.transport.connectionCount).toBe(1)
    relay.cut = true // the peer is gone: no CONNECTION_CLOSE, just silence
    const started = Date.now()
    expect(await conn.closed).toMatchObject({ code: CloseCode.IDLE_TIMEOUT, remote: false })
    expect(Date.now() - started).toBeLessThan(3000)
    expect(await server.inbound[0]!.closed).toMatchObject({ code: CloseCode.IDLE_TIMEOUT })
    await waitFor(() => server.transport.connectionCount === 0, 3000, 'the server to reap the connection')
    await waitFor(() => server.released === 1, 3000, 'the gate slot to be released')
    await relay.close()
  })

  it('reaps vanished peers even with the idle timeout disabled (dead-peer timeout)', async () => {
    const opts = { limits: { idleTimeout: 0, keepAliveInterval: 0 }, options: { deadPeerTimeout: 900 } }
    const server = await makeTransport(opts)
    const relay = await UdpRelay.start({ host: '127.0.0.1', port: server.transport.localEndpoint!.port })
    const client = await makeTransport({ ...opts, listen: false })
    const conn = await client.transport.dial(relay.address)
    await waitFor(() => server.inbound.length === 1)
    await sleep(1500) // still alive: keep-alives at a third of the dead-peer timeout
    expect(server.transport.connectionCount).toBe(1)
    relay.cut = true
    expect(await conn.closed).toMatchObject({ code: CloseCode.IDLE_TIMEOUT })
    await waitFor(() => server.transport.connectionCount === 0, 3000, 'the server to reap the connection')
    await relay.close()
  })

  it('a killed peer surfaces to node users as a connection:close event', async () => {
    const b = await startNode({ connection: { idleTimeout: 900, keepAliveInterval: 200 } })
    const a = await startNode({ connection: { idleTimeout: 900, keepAliveInterval: 200 } })
    const port = Number(new URL(b.addresses[0]!.replace('quic://', 'http://')).port)
    const relay = await UdpRelay.start({ host: '127.0.0.1', port })
    const closes: number[] = []
    a.on('connection:close', ({ code }) => closes.push(code))
    await a.connect({ peerId: b.peerId, addresses: [relay.address] })
    relay.cut = true
    await waitFor(() => closes.length === 1, 4000, 'connection:close')
    expect(closes[0]).toBe(CloseCode.IDLE_TIMEOUT)
    await relay.close()
  })
})

describe('defect 5: bursts overflow the UDP receive buffer and streams stall', () => {
  it('enlarges the socket buffers', async () => {
    const t = await makeTransport()
    const udp = (t.transport as unknown as { bound: QUICSocket }).bound.udpSocket
    if (udp === undefined) throw new Error('no UDP socket')
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'))
    const rmemDefault = Number(readFileSync('/proc/sys/net/core/rmem_default', 'utf8'))
    if (rmemMax > 2 * rmemDefault) expect(udp.getRecvBufferSize()).toBeGreaterThan(2 * rmemDefault)
    expect(udp.getSendBufferSize()).toBeGreaterThan(0)
  })

  // 64 requests in flight on one connection: the loss test below; integrity under load:
  // messaging.test.ts, 'carries 10 senders x 100 x 1 KiB'.
  it('recovers from 5% datagram loss with 64 in flight (no stall)', async () => {
    const b = await startNode()
    const a = await startNode()
    b.handle((m) => m.data)
    const port = Number(new URL(b.addresses[0]!.replace('quic://', 'http://')).port)
    const relay = await UdpRelay.start({ host: '127.0.0.1', port })
    const conn = await a.connect({ peerId: b.peerId, addresses: [relay.address] })
    relay.loss = 0.05
    let next = 0
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < 500) {
          next++
          expect((await conn.request(Buffer.alloc(1024, 1), { timeout: 20_000 })).length).toBe(1024)
        }
      }),
    )
    expect(relay.dropped).toBeGreaterThan(0)
    await relay.close()
  })

  it('no send or request hangs: the core deadline bounds them even when the peer vanishes', async () => {
    const b = await startNode()
    const a = await startNode({ connection: { requestTimeout: 600 } })
    b.handle(() => new Promise<never>(() => {})) // never answers
    const port = Number(new URL(b.addresses[0]!.replace('quic://', 'http://')).port)
    const relay = await UdpRelay.start({ host: '127.0.0.1', port })
    const conn = await a.connect({ peerId: b.peerId, addresses: [relay.address] })
    await expect(conn.request(Buffer.from('hello?'))).rejects.toBeInstanceOf(TimeoutError)
    relay.cut = true
    // The core's 600 ms deadline, not the transport, ends them.
    await expect(conn.send(Buffer.alloc(4 * 1024 * 1024))).rejects.toBeInstanceOf(TimeoutError)
    await expect(conn.request(Buffer.from('anyone?'))).rejects.toBeInstanceOf(TimeoutError)
    await relay.close()
  })
})
