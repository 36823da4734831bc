import stunPackage from 'stun'
import { describe, expect, it } from 'vitest'
import { natStatus, stun } from '../src/index.js'
import { isPlausibleMapping } from '../src/stun/binding.js'
import { startNode } from './helpers.js'
import { honest, server, type startStunServer } from './stun-server.js'

/** STUN servers that lie: an absurd mapped address, or two servers that disagree on our IP. */


/** A server that answers every request (with the right transaction id) claiming we are at `host:port`. */
function claiming(host: string, port?: number): Parameters<typeof startStunServer>[1] {
  return (request, from, socket) => {
    const decoded = stunPackage.decode(request)
    const response = stunPackage.createMessage(stunPackage.constants.STUN_BINDING_RESPONSE, decoded.transactionId)
    response.addXorAddress(host, port ?? from.port)
    socket.send(response.toBuffer(), from.port, from.address)
  }
}

describe('STUN answers that cannot be true are not published', () => {
  it('isPlausibleMapping: no unspecified, multicast, broadcast, reserved, port 0 or other family; loopback and link-local only over that scope', () => {
    const publicServer = '203.0.113.1'
    expect(isPlausibleMapping({ host: '198.51.100.7', port: 4001 }, publicServer)).toBe(true)
    for (const host of ['0.0.0.0', '239.1.2.3', '255.255.255.255', '240.0.0.1', '127.0.0.1', '169.254.1.1', '2001:db8::1']) {
      expect(isPlausibleMapping({ host, port: 4001 }, publicServer), host).toBe(false)
    }
    expect(isPlausibleMapping({ host: '198.51.100.7', port: 0 }, publicServer)).toBe(false)
    expect(isPlausibleMapping({ host: '127.0.0.1', port: 4001 }, '127.0.0.1')).toBe(true)
    expect(isPlausibleMapping({ host: '::', port: 4001 }, '2001:db8::1')).toBe(false)
    expect(isPlausibleMapping({ host: 'ff02::1', port: 4001 }, '2001:db8::1')).toBe(false)
    expect(isPlausibleMapping({ host: 'fe80::1', port: 4001 }, '2001:db8::1')).toBe(false)
  })

  it('a server claiming we are at a multicast address is ignored: nothing is published', async () => {
    const liar = await server('127.0.0.1', claiming('239.1.2.3', 4000))
    const node = await startNode({ services: [stun({ servers: [`127.0.0.1:${liar.port}`], timeout: 50, retries: 1 })] })
    const event = await node.once('service:event')
    expect(event).toMatchObject({ service: 'stun', type: 'failed' })
    expect(natStatus(node.nat).reflexiveAddress).toBeUndefined()
    expect(node.addresses.some((a) => a.includes('239.1.2.3'))).toBe(false)
  })

  it('two servers that disagree on our IP: neither answer is published', async () => {
    const honestServer = await server('127.0.0.1', honest)
    const liar = await server('127.0.0.2', claiming('198.51.100.9'))
    const node = await startNode({
      services: [stun({ servers: [`127.0.0.1:${honestServer.port}`, `127.0.0.2:${liar.port}`], timeout: 100 })],
    })
    const event = await node.once('service:event')
    expect(event).toMatchObject({ service: 'stun', type: 'failed' })
    expect(event.message).toMatch(/disagree/)
    expect(natStatus(node.nat).reflexiveAddress).toBeUndefined()
    expect(natStatus(node.nat).mapping).toBe('unknown')
  })

  it('the first server lying, the second honest: neither is published either', async () => {
    const liar = await server('127.0.0.1', claiming('198.51.100.9'))
    const honestServer = await server('127.0.0.2', honest)
    const node = await startNode({
      services: [stun({ servers: [`127.0.0.1:${liar.port}`, `127.0.0.2:${honestServer.port}`], timeout: 100 })],
    })
    await node.once('service:event')
    expect(natStatus(node.nat).reflexiveAddress).toBeUndefined()
  })
})
