/**
 * The pnpm patches of @matrixai/quic and @matrixai/events (patches/ at the
 * repository root): applied, and behaving as the README describes. The QUIC
 * library under test is @crust/quic-lib, the patched copy that is published.
 */
import { readFileSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { QUICClient, QUICServer, QUICSocket, type QUICStream, events } from '@crust/quic-lib'
import { describe, expect, it } from 'vitest'
import { clientCrypto, serverCrypto } from '../src/crypto-ops.js'
import { connectionInternals } from '../src/internals.js'
import { libraryIsPatched } from '../src/library-patch.js'
import { connectedPair, libraryConnectionOf, newSecurity, readAll, waitFor } from './helpers.js'

const quicRoot = join(dirname(fileURLToPath(import.meta.resolve('@crust/quic-lib'))), '..')
const eventsRoot = realpathSync(join(quicRoot, 'node_modules', '@matrixai', 'events'))

describe('the @matrixai patches', () => {
  it('are applied to the packages the transport loads', () => {
    expect(JSON.parse(readFileSync(join(quicRoot, 'package.json'), 'utf8')).name).toBe('@crust/quic-lib')
    const connection = readFileSync(join(quicRoot, 'dist', 'QUICConnection.js'), 'utf8')
    for (const marker of ['recvSerial(f)', 'scheduleFlush(streams)', 'handleConnTimeout = () =>', "!== 'starting'"]) {
      expect(connection).toContain(marker)
    }
    expect(readFileSync(join(quicRoot, 'dist', 'QUICStream.js'), 'utf8')).toContain('connection.readableChunk ??=')
    expect(readFileSync(join(eventsRoot, 'dist', 'Evented.js'), 'utf8')).toContain('[crust patch]')
    expect(libraryIsPatched()).toBe(true) // so the transport stays quiet about it here
  })

  it('events: no EventAll / EventDefault wrappers without listeners, unchanged delivery with them', () => {
    const target = new QUICSocket({})
    const dispatch = EventTarget.prototype.dispatchEvent
    let dispatched = 0
    EventTarget.prototype.dispatchEvent = function (this: EventTarget, event: Event) {
      dispatched++
      return dispatch.call(this, event)
    }
    try {
      target.dispatchEvent(new events.EventQUICSocketStart())
      expect(dispatched).toBe(1) // unpatched: 3 (the event, EventDefault, EventAll)
      const seen: Event[] = []
      target.addEventListener('EventAll', (event: Event) => seen.push(event))
      dispatched = 0
      target.dispatchEvent(new events.EventQUICSocketStart())
      expect(seen).toHaveLength(1)
      expect((seen[0] as unknown as { detail: Event }).detail).toBeInstanceOf(events.EventQUICSocketStart)
    } finally {
      EventTarget.prototype.dispatchEvent = dispatch
    }
  })

  it('quic: stream processing runs once per burst of datagrams, not once per datagram', async () => {
    const { conn, inbound } = await connectedPair()
    const server = libraryConnectionOf(inbound) as unknown as { processStreams(): void }
    const original = server.processStreams.bind(server)
    let runs = 0
    server.processStreams = () => {
      runs++
      original()
    }
    const received: Buffer[] = []
    inbound.onStream(async (stream) => received.push(await readAll(stream)))
    const native = connectionInternals(libraryConnectionOf(inbound)).conn
    const before = native.stats().recv
    await Promise.all(
      Array.from({ length: 64 }, async (_, i) => (await conn.openStream({ bidirectional: false })).write(Buffer.alloc(4096, i), { end: true })),
    )
    await waitFor(() => received.length === 64)
    const datagrams = native.stats().recv - before
    expect(datagrams).toBeGreaterThan(0)
    // Unpatched, every datagram runs it (measured 128 runs for 128 datagrams);
    // patched, a burst runs it once (2 for 64). A quarter leaves room for load.
    expect(runs).toBeLessThanOrEqual(datagrams / 4)
  })

  it('quic: the connection timer is a plain Node timer, and streams share one read buffer', async () => {
    const { conn, inbound } = await connectedPair()
    const accepted: unknown[] = []
    inbound.onStream((stream) => accepted.push(stream))
    for (let i = 0; i < 2; i++) await (await conn.openStream({ bidirectional: true })).write(Buffer.from('x'))
    await waitFor(() => accepted.length === 2)
    const library = libraryConnectionOf(inbound)
    const timer = (library as unknown as { connTimeoutTimer?: unknown }).connTimeoutTimer
    expect(timer).toBeDefined()
    expect(typeof (timer as { hasRef?: unknown }).hasRef).toBe('function')
    const streams: QUICStream[] = [...connectionInternals(library).streamMap.values()]
    expect(streams.length).toBe(2)
    const chunks = new Set(streams.map((s) => (s as unknown as { readableChunk?: Buffer }).readableChunk))
    expect(chunks.size).toBe(1)
  })

  it('quic: with default library settings, a close right after connecting completes (handshake replies stay inline)', async () => {
    const security = await newSecurity()
    const serverSocket = new QUICSocket({})
    await serverSocket.start({ host: '127.0.0.1', port: 0 })
    const server = new QUICServer({ crypto: serverCrypto(), socket: serverSocket, config: { key: security.privateKeyPem, cert: security.certificatePem } })
    await server.start()
    const clientSocket = new QUICSocket({})
    await clientSocket.start({ host: '127.0.0.1', port: 0 })
    try {
      for (let i = 0; i < 10; i++) {
        const client = await QUICClient.createQUICClient({
          host: '127.0.0.1',
          port: serverSocket.port,
          socket: clientSocket,
          crypto: clientCrypto,
          config: { verifyPeer: false },
        })
        const destroyed = client.destroy({ force: true })
        const stalled = new Promise((_, reject) => setTimeout(() => reject(new Error(`destroy ${i} stalled`)), 3000))
        await Promise.race([destroyed, stalled])
      }
    } finally {
      await server.stop({ force: true })
      await serverSocket.stop({ force: true })
      await clientSocket.stop({ force: true })
    }
  })
})
