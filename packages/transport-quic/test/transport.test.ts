import { createSocket } from 'node:dgram'
import { AbortError, CloseCode, StreamResetError, StreamStateError, type TransportStream } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { StreamStateError as QuicStreamStateError } from '../src/index.js'
import { libraryConnectionOf, makeTransport, readAll, sleep, waitFor } from './helpers.js'

async function pair(options: Parameters<typeof makeTransport>[0] = {}) {
  const server = await makeTransport(options)
  const client = await makeTransport({ ...options, listen: false })
  const conn = await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId })
  await waitFor(() => server.inbound.length === 1, 5000, 'inbound connection')
  return { server, client, conn, inbound: server.inbound[0]! }
}

describe('QUIC transport: connections and streams', () => {
  it('dials, exchanges on bidi and uni streams, and closes with a code and reason', async () => {
    const { server, client, conn, inbound } = await pair()
    expect(conn.transport).toBe('quic')
    expect(conn.direction).toBe('outbound')
    expect(inbound.direction).toBe('inbound')
    expect(conn.remotePeer.peerId).toBe(server.security.peerId)
    expect(inbound.remotePeer.peerId).toBe(client.security.peerId)
    expect(conn.remoteAddress).toBe(server.address())
    const received: Buffer[] = []
    inbound.onStream(async (stream) => {
      const data = await readAll(stream)
      received.push(data)
      if (stream.bidirectional) await stream.write(Buffer.concat([Buffer.from('echo:'), data]), { end: true })
    })
    const bidi = await conn.openStream({ bidirectional: true })
    await bidi.write(Buffer.from('hel'))
    await bidi.write(Buffer.from('lo'), { end: true })
    expect((await readAll(bidi)).toString()).toBe('echo:hello')
    const uni = await conn.openStream({ bidirectional: false })
    expect(uni.bidirectional).toBe(false)
    await uni.write(Buffer.from('one way'), { end: true })
    await waitFor(() => received.length === 2)
    expect(received[1]!.toString()).toBe('one way')
    await conn.close({ code: CloseCode.DUPLICATE, reason: 'lost the race' })
    expect(await conn.closed).toMatchObject({ code: CloseCode.DUPLICATE, reason: 'lost the race', remote: false })
    expect(await inbound.closed).toMatchObject({ code: CloseCode.DUPLICATE, reason: 'lost the race', remote: true })
    await waitFor(() => server.released === 1, 5000, 'gate release')
    await expect(conn.openStream({ bidirectional: true })).rejects.toThrow(/closed/)
  })

  it('sends a request and its reply (each written with end) in one datagram each way: kind byte, data and FIN together', async () => {
    const { conn, inbound } = await pair()
    inbound.onStream(async (stream) => {
      const data = await readAll(stream)
      await stream.write(Buffer.concat([Buffer.from('echo:'), data]), { end: true })
    })
    const packetsSent = (connection: typeof conn) => libraryConnectionOf(connection).conn.stats().sent
    await sleep(100) // what the handshake still owes has gone
    for (let i = 0; i < 5; i++) {
      const [client, server] = [packetsSent(conn), packetsSent(inbound)]
      const stream = await conn.openStream({ bidirectional: true })
      await stream.write(Buffer.from(`request ${i}`), { end: true })
      expect((await readAll(stream)).toString()).toBe(`echo:request ${i}`)
      // The library sends the first write of a job at once: a kind byte or a FIN written apart would go alone.
      expect([packetsSent(conn) - client, packetsSent(inbound) - server]).toEqual([1, 1])
      await sleep(20)
    }
  })

  it('delivers a close from the accepting side to the dialler', async () => {
    const { conn, inbound } = await pair()
    await inbound.close({ code: CloseCode.BLACKLISTED, reason: 'you are blocked' })
    expect(await conn.closed).toMatchObject({ code: CloseCode.BLACKLISTED, reason: 'you are blocked', remote: true })
    expect(await inbound.closed).toMatchObject({ code: CloseCode.BLACKLISTED, remote: false })
  })

  it('delivers streams opened before the handler was set', async () => {
    const { conn, inbound } = await pair()
    const first = await conn.openStream({ bidirectional: false })
    await first.write(Buffer.from('early'), { end: true })
    await sleep(100)
    const streams: TransportStream[] = []
    inbound.onStream((stream) => streams.push(stream))
    await waitFor(() => streams.length === 1)
    expect((await readAll(streams[0]!)).toString()).toBe('early')
  })

  it('resets a stream with a code both ways', async () => {
    const { conn, inbound } = await pair()
    inbound.onStream((stream) => stream.reset(4))
    const stream = await conn.openStream({ bidirectional: true })
    await stream.write(Buffer.from('x'))
    const failure = await readAll(stream).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(failure).toBeInstanceOf(StreamResetError)
    expect(failure).toMatchObject({ resetCode: 4, remote: true })
    // A local reset fails local reads at once.
    const other = await conn.openStream({ bidirectional: true })
    other.reset(3)
    await expect(readAll(other)).rejects.toMatchObject({ resetCode: 3, remote: false })
  })

  it('refuses writes on the accepting side of a unidirectional stream and after end', async () => {
    expect(QuicStreamStateError).toBe(StreamStateError) // one class, shared with the muxer's streams
    const { conn, inbound } = await pair()
    const accepted: TransportStream[] = []
    inbound.onStream((stream) => accepted.push(stream))
    const uni = await conn.openStream({ bidirectional: false })
    await uni.write(Buffer.from('a'), { end: true })
    await expect(uni.write(Buffer.from('b'))).rejects.toBeInstanceOf(StreamStateError)
    await waitFor(() => accepted.length === 1)
    await expect(accepted[0]!.write(Buffer.from('c'))).rejects.toBeInstanceOf(StreamStateError)
    expect([...(await readAll(uni))]).toEqual([]) // the opener of a uni stream reads nothing
  })

  it('applies backpressure: a writer waits while the reader does not read', async () => {
    const { conn, inbound } = await pair({ options: { initialMaxStreamData: 64 * 1024, maxStreamWindow: 64 * 1024 } })
    let stream: TransportStream | undefined
    inbound.onStream((s) => {
      stream = s
    })
    const out = await conn.openStream({ bidirectional: false })
    let done = false
    const big = Buffer.alloc(4 * 1024 * 1024, 1)
    const writing = out.write(big, { end: true }).then(() => {
      done = true
    })
    await sleep(500)
    expect(done).toBe(false) // blocked on flow control: at most the stream window is in flight
    await waitFor(() => stream !== undefined)
    expect((await readAll(stream!)).length).toBe(big.length)
    await writing
    expect(done).toBe(true)
  })

  it('aborts a dial through its signal', async () => {
    const silent = createSocket('udp4')
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve))
    const client = await makeTransport({ listen: false })
    const controller = new AbortController()
    const dialing = client.transport.dial(`quic://127.0.0.1:${silent.address().port}`, { signal: controller.signal })
    setTimeout(() => controller.abort(), 100)
    await expect(dialing).rejects.toBeInstanceOf(AbortError)
    silent.close()
  })
})

describe('QUIC transport: one UDP socket per node', () => {
  it('dials from its listening port (shared by server and clients)', async () => {
    const a = await makeTransport()
    const b = await makeTransport()
    await a.transport.dial(b.address())
    await waitFor(() => b.inbound.length === 1)
    expect(b.inbound[0]!.remoteAddress).toBe(a.address())
    expect(b.admitted[0]).toMatchObject({ transport: 'quic', host: '127.0.0.1', port: a.transport.localEndpoint!.port })
  })

  it('creates one socket on the first dial of a node that never listens, and reuses it', async () => {
    const server = await makeTransport()
    const client = await makeTransport({ listen: false })
    expect(client.transport.localEndpoint).toBeUndefined()
    await Promise.all([client.transport.dial(server.address()), client.transport.dial(server.address())])
    const endpoint = client.transport.localEndpoint
    expect(endpoint).toBeDefined()
    await client.transport.dial(server.address())
    await waitFor(() => server.inbound.length === 3)
    expect(new Set(server.inbound.map((c) => c.remoteAddress)).size).toBe(1)
    expect(server.inbound[0]!.remoteAddress).toBe(`quic://127.0.0.1:${endpoint!.port}`)
  })

  it('listens dual-stack on [::] by default and dials over IPv4 and IPv6', async () => {
    const server = await makeTransport({ listen: 'quic://[::]:0' })
    const port = server.transport.localEndpoint!.port
    const addresses = server.transport.addresses()
    expect(addresses).toContain(`quic://127.0.0.1:${port}`)
    const client = await makeTransport({ listen: false })
    await client.transport.dial(`quic://127.0.0.1:${port}`)
    if (addresses.includes(`quic://[::1]:${port}`)) await client.transport.dial(`quic://[::1]:${port}`)
    // A second wildcard listen is covered by the same socket; another port is not.
    await server.transport.listen(`quic://0.0.0.0:${port}`)
    await expect(server.transport.listen('quic://127.0.0.1:1')).rejects.toThrow(/one QUIC socket/)
  })

  it('uses [::] as its default listen address and can dial', async () => {
    const t = await makeTransport({ listen: false })
    expect(t.transport.defaultListenAddresses).toEqual(['quic://[::]:0'])
    expect(t.transport.canDial('quic://127.0.0.1:1')).toBe(true)
    expect(t.transport.canDial('tcp://127.0.0.1:1')).toBe(false)
  })
})

describe('QUIC transport: the gate', () => {
  it('asks the gate once per attempt, with the validated address, and releases it at the end', async () => {
    const { server, client, conn } = await pair()
    expect(server.admitted).toEqual([{ transport: 'quic', host: '127.0.0.1', port: client.transport.localEndpoint!.port }])
    expect(server.released).toBe(0)
    await conn.close()
    await waitFor(() => server.released === 1)
  })

  it('refuses with the gate code and reason, creating no connection', async () => {
    const server = await makeTransport({ gate: () => ({ allow: false, code: CloseCode.LIMIT_REACHED, reason: 'too many from you' }) })
    const client = await makeTransport({ listen: false })
    const outcome = await client.transport.dial(server.address()).then(
      async (conn) => conn.closed,
      (error: unknown) => error,
    )
    if (outcome instanceof Error) expect(outcome.message).toMatch(/too many from you/)
    else expect(outcome).toMatchObject({ code: CloseCode.LIMIT_REACHED, reason: 'too many from you', remote: true })
    expect(server.admitted).toHaveLength(1) // retransmitted Initials of the same attempt are not re-gated
    expect(server.inbound).toHaveLength(0)
    expect(server.transport.connectionCount).toBe(0)
  })
})
