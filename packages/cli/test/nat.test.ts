/**
 * `crust nat` on a machine without a UPnP gateway (this one, and CI): it
 * says so plainly, and that the NAT type needs a STUN server or a peer. A
 * tiny STUN responder on loopback shows the reflexive address path.
 */
import { createSocket, type Socket } from 'node:dgram'
import { afterAll, describe, expect, it } from 'vitest'
import { crust } from './helpers.js'

/** A minimal STUN server: answers binding requests with the sender's address (XOR-MAPPED-ADDRESS, IPv4). */
async function stunServer(): Promise<{ port: number; socket: Socket }> {
  const socket = createSocket('udp4')
  socket.on('message', (request, from) => {
    const response = Buffer.alloc(32)
    response.writeUInt16BE(0x0101, 0) // binding success
    response.writeUInt16BE(12, 2)
    request.copy(response, 4, 4, 20) // magic cookie and transaction id
    response.writeUInt16BE(0x0020, 20) // XOR-MAPPED-ADDRESS
    response.writeUInt16BE(8, 22)
    response.writeUInt16BE(0x0001, 24)
    response.writeUInt16BE(from.port ^ 0x2112, 26)
    const ip = from.address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0)
    response.writeUInt32BE((ip ^ 0x2112a442) >>> 0, 28)
    socket.send(response, from.port, from.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return { port: socket.address().port, socket }
}

const sockets: Socket[] = []
afterAll(() => {
  for (const socket of sockets) socket.close()
})

describe('crust nat', () => {
  it('says plainly that no UPnP gateway answered, and what it cannot tell without STUN', async () => {
    const run = await crust(['nat', '--upnp-timeout', '300ms'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/UPnP\s+No UPnP gateway answered within 300 ms: /)
    expect(run.stdout).toMatch(/NAT type\s+cannot tell the NAT type without a STUN server or a peer/)
    expect(run.stdout).toMatch(/reachability\s+\S/)
  })

  it('reports the reflexive address a STUN server sees, as JSON', async () => {
    const server = await stunServer()
    sockets.push(server.socket)
    const run = await crust(['nat', '--upnp-timeout', '300ms', '--stun', `127.0.0.1:${server.port}`, '--json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout) as Record<string, unknown>
    expect(report.upnp).toMatchObject({ state: 'unavailable', reason: 'no UPnP gateway answered within 300 ms' })
    expect(report.reflexiveAddress).toMatch(/^quic:\/\/127\.0\.0\.1:\d+$/)
    expect(report.reachability).toMatchObject({ verdict: expect.any(String), text: expect.any(String) })
  })

  it('names a bad STUN server with exit code 2', async () => {
    const run = await crust(['nat', '--stun', 'nowhere'])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe('crust nat: --stun: must be host:port, e.g. 203.0.113.1:3478 or [2001:db8::1]:3478\n')
  })
})
