import { type CloseInfo, CloseCode, type TransportStream } from '@crust/core'
import { afterEach, describe, expect, it } from 'vitest'
import { MuxedConnection, type MuxedConnectionParts, type Muxer } from '../src/index.js'
import { type MuxerPair, readAll, tcpPair } from './helpers.js'

/** The smallest transport connection over a muxer: only an id and a transport name of its own. */
class TestConnection extends MuxedConnection {
  readonly id: string
  readonly transport = 'test'

  constructor(id: string, parts: MuxedConnectionParts) {
    super(parts)
    this.id = id
  }
}

const peer = (peerId: string) => ({ peerId, certificate: new Uint8Array([1]) })

function connect(muxer: Muxer, side: 'client' | 'server', closed?: Promise<CloseInfo>): TestConnection {
  return new TestConnection(side, {
    muxer,
    direction: side === 'client' ? 'outbound' : 'inbound',
    remotePeer: peer(side === 'client' ? 'server-id' : 'client-id'),
    remoteAddress: `test://${side === 'client' ? 'server' : 'client'}`,
    localAddress: `test://${side}`,
    ...(closed === undefined ? {} : { closed }),
  })
}

let pair: MuxerPair | undefined

afterEach(async () => {
  await pair?.close()
  pair = undefined
})

describe('MuxedConnection', () => {
  it('carries the parts it was given', async () => {
    pair = await tcpPair()
    const client = connect(pair.client, 'client')
    expect(client).toMatchObject({
      id: 'client',
      transport: 'test',
      direction: 'outbound',
      remotePeer: { peerId: 'server-id' },
      remoteAddress: 'test://server',
      localAddress: 'test://client',
    })
  })

  it('opens, accepts and echoes streams, and pings, through the muxer', async () => {
    pair = await tcpPair()
    const client = connect(pair.client, 'client')
    const server = connect(pair.server, 'server')
    server.onStream((stream: TransportStream) => {
      void readAll(stream).then((data) => stream.write(data, { end: true }))
    })
    const stream = await client.openStream({ bidirectional: true })
    await stream.write(Buffer.from('hello'), { end: true })
    expect((await readAll(stream)).toString()).toBe('hello')
    expect(await client.ping()).toBeGreaterThanOrEqual(0)
  })

  it("close sends its code and reason; closed settles on both sides with the muxer's close", async () => {
    pair = await tcpPair()
    const client = connect(pair.client, 'client')
    const server = connect(pair.server, 'server')
    await client.close({ code: CloseCode.SHUTDOWN, reason: 'bye' })
    expect(await client.closed).toEqual({ code: CloseCode.SHUTDOWN, reason: 'bye', remote: false })
    expect(await server.closed).toEqual({ code: CloseCode.SHUTDOWN, reason: 'bye', remote: true })
    await expect(client.close()).resolves.toBeUndefined() // idempotent
  })

  it("reports the transport's own close info when it gives one", async () => {
    pair = await tcpPair()
    const client = connect(
      pair.client,
      'client',
      pair.client.closed.then((info) => ({ ...info, reason: `relay cut: ${info.reason}` })),
    )
    connect(pair.server, 'server')
    await pair.server.close({ code: CloseCode.LIMIT_REACHED, reason: 'full' })
    expect(await client.closed).toEqual({ code: CloseCode.LIMIT_REACHED, reason: 'relay cut: full', remote: true })
  })
})
