import { generateKeyPairSync } from 'node:crypto'
import {
  type Connection,
  DialError,
  type Service,
  type ServiceConnection,
  type TraversalStatus,
  type ServiceComponents,
  type LogRecord,
  type ServiceFactory,
  StreamResetError,
  parseConfig,
  peerIdFromPublicKey,
} from '@crust/core'
import { waitUntil } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { contactOf, deadPort, startNode } from './helpers.js'

/** A service whose behaviour each test supplies; it records its components. */
function testService(id: string, build: (components: ServiceComponents) => Partial<Service> = () => ({})): {
  factory: ServiceFactory
  components: () => ServiceComponents
} {
  let captured: ServiceComponents | undefined
  const factory: ServiceFactory = (components) => {
    captured = components
    return { id, start: async () => {}, stop: async () => {}, ...build(components) }
  }
  return {
    factory,
    components: () => {
      if (captured === undefined) throw new Error('service not started')
      return captured
    },
  }
}

describe('service plugins', () => {
  it('ping measures a round trip and connections count the bytes of messages and answers', async () => {
    const a = await startNode()
    const b = await startNode()
    b.handle((message) => (message.isRequest ? new Uint8Array(10) : undefined))
    const connection = await a.connect(contactOf(b))
    const rtt = await connection.ping()
    expect(rtt).toBeGreaterThan(0)
    expect(rtt).toBeLessThan(1000)
    expect(connection.stats.rtt).toBe(rtt)
    await connection.send(new Uint8Array(100))
    await connection.request(new Uint8Array(50))
    expect(connection.stats).toMatchObject({ bytesSent: 150, bytesReceived: 10, messagesSent: 2, messagesReceived: 1 })
  })

  it('serves protocol streams: frames both ways, then raw bytes; an unknown protocol is refused', async () => {
    const echo = testService('echo', (components) => ({
      start: async () => {
        components.handleProtocol('/test/echo/1', (stream) => {
          void (async () => {
            const frame = await stream.readFrame(1024)
            await stream.writeFrame(Buffer.concat([Buffer.from('echo:'), frame ?? new Uint8Array(0)]))
            for await (const chunk of stream) await stream.write(chunk)
            await stream.end()
          })()
        })
      },
    }))
    const a = await startNode()
    const b = await startNode({ services: [echo.factory] })
    const connection = await a.connect(contactOf(b))
    const stream = await connection.openProtocolStream('/test/echo/1')
    // The opening header, a frame and raw bytes may arrive in one chunk: none may be lost.
    await stream.writeFrame(Buffer.from('hello'))
    await stream.write(Buffer.from('raw bytes'), { end: true })
    expect(Buffer.from((await stream.readFrame(1024)) ?? []).toString()).toBe('echo:hello')
    const chunks: Uint8Array[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(Buffer.concat(chunks).toString()).toBe('raw bytes')

    const unknown = await connection.openProtocolStream('/test/nobody/1')
    await expect(unknown.readFrame(10)).rejects.toBeInstanceOf(StreamResetError)
    // The connection itself is unharmed.
    expect(await connection.ping()).toBeGreaterThan(0)
  })

  it('tells both ends a connection came through an address a service published (e.g. a UPnP mapping)', async () => {
    const mapper = testService('mapper', (components) => ({
      start: async () => components.advertise(components.listenAddresses().map((address) => ({ address, method: 'upnp' as const }))),
    }))
    const a = await startNode()
    const b = await startNode({ services: [mapper.factory] })
    const inbound = b.once('connection:open')
    const outbound = await a.connect(contactOf(b))
    expect(outbound.method).toBe('upnp')
    expect((await inbound).connection.method).toBe('upnp')
  })

  it('calls connectors when a direct dial fails, and both ends learn how the path was made', async () => {
    const b = await startNode()
    let asked = 0
    const traversal = testService('traversal', (components) => ({
      connector: {
        priority: 10,
        connect: (peerId: string, { signal }: { signal: AbortSignal }): Promise<ServiceConnection> => {
          asked++
          return components.dial(b.addresses[0] as string, { peerId, method: 'punched', signal })
        },
      },
    }))
    const a = await startNode({ services: [traversal.factory] })
    const inbound = b.once('connection:open')
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(asked).toBe(1)
    expect(connection.method).toBe('punched')
    expect((await inbound).connection.method).toBe('punched')
    b.handle(() => Buffer.from('from b'))
    a.handle(() => Buffer.from('from a'))
    expect(Buffer.from(await connection.request(new Uint8Array(1))).toString()).toBe('from b')
    const back = b.getConnection(a.peerId)
    expect(Buffer.from((await back?.request(new Uint8Array(1))) ?? []).toString()).toBe('from a')
  })

  it("a third party's connector names its own method (here `pcp`), and a protocol it serves sees the interfaces", async () => {
    const served: string[] = []
    const pcp = testService('pcp', (components) => ({
      connector: {
        priority: 15,
        connect: (peerId: string, { signal }: { signal: AbortSignal }): Promise<ServiceConnection> =>
          components.dial(b.addresses[0] as string, { peerId, method: 'pcp', signal }),
      },
    }))
    const server = testService('pcp-server')
    const b = await startNode({ services: [server.factory] })
    server.components().handleProtocol('/pcp-test/1', (stream, connection) => {
      served.push(`${connection.method} ${connection.peerId.slice(0, 8)}`)
      void stream.end()
    })
    const a = await startNode({ services: [pcp.factory] })
    const inbound = b.once('connection:open')
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('pcp')
    expect((await inbound).connection.method).toBe('pcp')
    const stream = await pcp.components().connection(b.peerId)?.openProtocolStream('/pcp-test/1')
    expect(await stream?.readFrame(16)).toBeUndefined()
    expect(served).toEqual([`pcp ${a.peerId.slice(0, 8)}`])
  })

  it('a connection that loses the tie-break to a newer one finishes the calls already on it, both ways', async () => {
    const dialerOfFirst = testService('dialer')
    const dialerOfSecond = testService('dialer')
    const first = await startNode({ services: [dialerOfFirst.factory] })
    const second = await startNode({ services: [dialerOfSecond.factory] })
    // The connection dialled by the higher peer id wins: the lower one dials first, so its connection loses.
    const [low, high, highDialer] = first.peerId < second.peerId ? [first, second, dialerOfSecond] : [second, first, dialerOfFirst]
    const slowEcho = async (m: { data: Uint8Array; isRequest: boolean }) => {
      await new Promise((r) => setTimeout(r, 150))
      return m.isRequest ? m.data : undefined
    }
    low.handle(slowEcho)
    high.handle(slowEcho)
    const losing = await low.connect(contactOf(high))
    const back = high.getConnection(low.peerId) as Connection
    const calls = Array.from({ length: 10 }, (_, i) => [losing.request(Buffer.from(`l${i}`)), back.request(Buffer.from(`h${i}`))]).flat()
    await new Promise((r) => setTimeout(r, 30)) // every call is now in flight on the losing connection
    const winning = await highDialer.components().dial(low.addresses[0] as string, { peerId: low.peerId })
    expect(winning.direction).toBe('outbound')
    expect(high.getConnection(low.peerId)).toBe(winning)
    const answers = await Promise.all(calls)
    expect(answers.map((answer) => Buffer.from(answer).toString()).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => [`l${i}`, `h${i}`]).flat().sort(),
    )
    await waitUntil(() => low.connections.length === 1 && (low.connections[0] as Connection).direction === 'inbound', 2000, 'low keeps the winner')
  })

  it('reports every failure when no connector succeeds, and never asks connectors for an unknown peer id', async () => {
    let asked = 0
    const failing = testService('failing', () => ({
      connector: {
        priority: 10,
        connect: async () => {
          asked++
          throw new Error('no rendezvous knows that peer')
        },
      },
    }))
    const a = await startNode({ services: [failing.factory] })
    const error = await a.connect({ peerId: peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey), addresses: [] }, { retry: false }).catch((e: Error) => e)
    expect(String(error)).toContain('no rendezvous knows that peer')
    expect(String(error)).toContain('direct')
    expect(asked).toBe(1)
    const port = await deadPort()
    await expect(a.connect({ addresses: [`tcp://127.0.0.1:${port}`] }, { retry: false })).rejects.toBeInstanceOf(DialError)
    expect(asked).toBe(1)
  })

  it('keeps the traversal reports services make, emits changes, and survives a service that fails to start', async () => {
    const broken = testService('broken', () => ({ start: async () => Promise.reject(new Error('boom')) }))
    const reporter = testService('reporter')
    const node = await startNode({ services: [broken.factory, reporter.factory] })
    expect(node.runningServices.map((service) => service.id)).toEqual(['reporter'])
    expect(node.nat).toEqual({})
    const changes: TraversalStatus[] = []
    node.on('nat:change', ({ status }) => changes.push(status))
    const report = { kind: 'stun', state: 'endpoint-independent', addresses: ['quic://203.0.113.10:4001'] }
    reporter.components().reportTraversal(report)
    reporter.components().reportTraversal({ ...report }) // no change, no event
    expect(changes).toHaveLength(1)
    expect(node.nat).toEqual({ stun: report })
  })

  it('sends log lines to a configured sink instead of stderr; a sink that throws breaks nothing', async () => {
    const records: LogRecord[] = []
    const broken = testService('broken', () => ({ start: async () => Promise.reject(new Error('boom')) }))
    const node = await startNode({ services: [broken.factory], logLevel: 'warn', logSink: (record) => records.push(record) })
    expect(records).toContainEqual(expect.objectContaining({ level: 'warn', message: expect.stringContaining('boom') }))
    expect(records.every((record) => record.prefix.startsWith('crust:'))).toBe(true)
    const throwing = await startNode({
      services: [broken.factory],
      logSink: () => {
        throw new Error('sink down')
      },
    })
    await throwing.connect(contactOf(node))
    expect(() => parseConfig({ networkName: 'x', logSink: 'stderr' as never })).toThrow(/logSink/)
  })

  it('withdraws published addresses when the node stops its services', async () => {
    const mapper = testService('mapper', (components) => ({
      start: async () => components.advertise([{ address: 'tcp://198.51.100.7:4001', method: 'upnp' }]),
    }))
    const node = await startNode({ services: [mapper.factory] })
    expect(node.addresses).toContain('tcp://198.51.100.7:4001')
    await node.stop()
    expect(node.addresses).not.toContain('tcp://198.51.100.7:4001')
  })
})
