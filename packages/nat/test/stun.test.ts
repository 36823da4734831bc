import { ConfigError } from '@crust/core'
import { parseAddress } from '@crust/core/plugin'
import stunPackage from 'stun'
import { describe, expect, it } from 'vitest'
import { type NatStatus, StunError, natStatus, stun } from '../src/index.js'
import { classifyMapping } from '../src/stun/classify.js'
import { StunService } from '../src/stun/stun-service.js'
import { startNode } from './helpers.js'
import { honest, server } from './stun-server.js'


function natSettled(node: Awaited<ReturnType<typeof startNode>>): Promise<NatStatus> {
  if (natStatus(node.nat).reflexiveAddress !== undefined) return Promise.resolve(natStatus(node.nat))
  return node.once('nat:change').then(({ status }) => natStatus(status))
}

describe('classifyMapping', () => {
  const local = { port: 4000, hosts: new Set(['10.0.0.2']) }
  it('tells no NAT, endpoint-independent and endpoint-dependent mapping apart', () => {
    expect(classifyMapping({ host: '10.0.0.2', port: 4000 }, { host: '10.0.0.2', port: 4000 }, local)).toBe('none')
    expect(classifyMapping({ host: '203.0.113.10', port: 4000 }, { host: '203.0.113.10', port: 4000 }, local)).toBe('endpoint-independent')
    expect(classifyMapping({ host: '203.0.113.10', port: 4000 }, { host: '203.0.113.10', port: 5123 }, local)).toBe('endpoint-dependent')
    expect(classifyMapping({ host: '203.0.113.10', port: 4000 }, undefined, local)).toBe('unknown')
  })
})

describe('stun()', () => {
  it('rejects bad options naming the field', () => {
    expect(() => stun({ servers: ['nonsense'] })).toThrow(ConfigError)
    expect(() => stun({ servers: ['nonsense'] })).toThrow(/stun\.servers\.0/)
    expect(() => stun({ timeout: -1 })).toThrow(/stun\.timeout/)
    expect(() => stun({ bogus: 1 } as never)).toThrow(ConfigError)
  })

  it("learns the QUIC socket's address from two servers, and QUIC keeps working on the shared socket", async () => {
    const first = await server('127.0.0.1')
    const second = await server('127.0.0.2')
    const node = await startNode({ services: [stun({ servers: [`127.0.0.1:${first.port}`, `127.0.0.2:${second.port}`], timeout: 100 })] })
    const status = await natSettled(node)
    const quicAddress = node.addresses.find((address) => address.startsWith('quic://'))
    expect(status.reflexiveAddress).toBe(quicAddress)
    expect(status.mapping).toBe('none') // seen at our own address by both: no NAT
    const peer = await startNode()
    const connection = await peer.connect({ peerId: node.peerId, addresses: [quicAddress as string] }, { transport: 'quic' })
    node.handle(() => Buffer.from('pong'))
    expect(Buffer.from(await connection.request(Buffer.from('ping'))).toString()).toBe('pong')
  })

  it('classifies through the servers that answer when the first one is down', async () => {
    const silent = await server('127.0.0.3', () => {}) // up, but never answers (a dead serve node's address)
    const first = await server('127.0.0.1', honest)
    const second = await server('127.0.0.2', honest)
    const servers = [`127.0.0.3:${silent.port}`, `127.0.0.1:${first.port}`, `127.0.0.2:${second.port}`]
    const node = await startNode({ services: [stun({ servers, timeout: 50, retries: 1 })] })
    const status = await natSettled(node)
    expect(status.reflexiveAddress).toBe(node.addresses.find((address) => address.startsWith('quic://')))
    expect(status.mapping).toBe('none') // two answers compared: classified, not 'unknown'
  })

  it('reports endpoint-dependent mapping when the two servers see different ports', async () => {
    let calls = 0
    const lying = await server('127.0.0.2', (request, from, socket) => {
      // Answer as if a symmetric NAT gave this destination another port.
      const decoded = stunPackage.decode(request)
      const response = stunPackage.createMessage(stunPackage.constants.STUN_BINDING_RESPONSE, decoded.transactionId)
      response.addXorAddress(from.address, from.port + 1 + calls++)
      socket.send(response.toBuffer(), from.port, from.address)
    })
    const first = await server('127.0.0.1', honest)
    const node = await startNode({ services: [stun({ servers: [`127.0.0.1:${first.port}`, `127.0.0.2:${lying.port}`], timeout: 100 })] })
    expect((await natSettled(node)).mapping).toBe('endpoint-dependent')
  })

  it('ignores garbage, strangers and answers to other transactions, then gives up with a typed reason', async () => {
    const garbage = await server('127.0.0.1', (request, from, socket) => {
      socket.send(Buffer.from('not stun at all, but long enough to look like a header'), from.port, from.address)
      const cookie = Buffer.alloc(24)
      cookie.writeUInt32BE(0x2112a442, 4) // a STUN-looking header with nonsense after it
      socket.send(cookie, from.port, from.address)
      const wrong = stunPackage.createMessage(stunPackage.constants.STUN_BINDING_RESPONSE) // another transaction id
      wrong.addXorAddress('198.51.100.1', 1)
      socket.send(wrong.toBuffer(), from.port, from.address)
      void request
    })
    const stranger = await server('127.0.0.1', () => {})
    const started = performance.now()
    const node = await startNode({ services: [stun({ servers: [`127.0.0.1:${garbage.port}`], timeout: 50, retries: 2 })] })
    // A stranger answering as if it were the server is ignored too.
    const strangerSocket = await import('node:dgram').then(({ createSocket }) => createSocket('udp4'))
    const quicPort = parseAddress(node.addresses.find((address) => address.startsWith('quic://')) as string)?.port as number
    const forged = stunPackage.createMessage(stunPackage.constants.STUN_BINDING_RESPONSE)
    forged.addXorAddress('198.51.100.66', 6666)
    strangerSocket.send(forged.toBuffer(), quicPort, '127.0.0.1', () => strangerSocket.close())
    const event = await node.once('service:event')
    expect(event).toMatchObject({ service: 'stun', type: 'failed' })
    expect(event.message).toMatch(/no answer from STUN server/)
    expect(garbage.requests).toBe(3) // bounded: the first request and 2 retransmissions, then nothing
    expect(performance.now() - started).toBeLessThan(2000)
    expect(natStatus(node.nat).reflexiveAddress).toBeUndefined()
    expect(stranger.requests).toBe(0)
    expect(new StunError('timeout', 'x')).toMatchObject({ reason: 'timeout', code: 'ERR_STUN' })
  })

  it('without servers, takes the reflexive address from peers’ echo', async () => {
    const peer = await startNode()
    const node = await startNode({ services: [stun({ refreshInterval: 0 })] })
    const quicPeer = peer.addresses.find((address) => address.startsWith('quic://')) as string
    await node.connect({ peerId: peer.peerId, addresses: [quicPeer] }, { transport: 'quic' })
    const service = node.runningServices.find((s) => s.id === 'stun')
    if (!(service instanceof StunService)) throw new Error('the stun service is not running')
    const status = await service.refresh()
    expect(status.reflexiveAddress).toBe(node.addresses.find((address) => address.startsWith('quic://')))
  })
})
