import { type Socket, createSocket } from 'node:dgram'
import { ConfigError } from '@crust/core'
import { pathProxy } from '@crust/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { PcpError, pcp } from '../src/index.js'
import { PortControlClient } from '../src/pcp/client.js'
import { parseDefaultGateway } from '../src/pcp/gateway.js'
import { startNode } from './helpers.js'
import {
  decodeNatPmpAddress,
  decodeNatPmpMap,
  decodePcpHeader,
  decodePcpMap,
  encodeNatPmpMap,
  encodePcpAnnounce,
  encodePcpMap,
  epochRegressed,
} from '../src/pcp/packets.js'

const nonce = Uint8Array.from({ length: 12 }, (_, i) => i + 1)
const mapRequest = { clientIp: '10.1.0.2', nonce, protocol: 'udp' as const, internalPort: 4001, externalPort: 4001, lifetime: 60 }

/** A PCP MAP answer as a gateway would send it for `request`. */
function pcpMapAnswer(request: Omit<typeof mapRequest, 'protocol'> & { protocol: 'tcp' | 'udp' }, options: { result?: number; epoch?: number; externalPort?: number; externalIp?: number[] } = {}): Buffer {
  const answer = Buffer.alloc(60)
  answer[0] = 2
  answer[1] = 0x81
  answer[3] = options.result ?? 0
  answer.writeUInt32BE(request.lifetime, 4)
  answer.writeUInt32BE(options.epoch ?? 100, 8)
  answer.set(request.nonce, 24)
  answer[36] = request.protocol === 'udp' ? 17 : 6
  answer.writeUInt16BE(request.internalPort, 40)
  answer.writeUInt16BE(options.externalPort ?? request.externalPort, 42)
  answer.writeUInt16BE(0xffff, 54)
  answer.set(options.externalIp ?? [203, 0, 113, 10], 56)
  return answer
}

describe('PCP / NAT-PMP packets', () => {
  it('encodes MAP and ANNOUNCE as RFC 6887 lays them out', () => {
    const map = encodePcpMap(mapRequest)
    expect(map).toHaveLength(60)
    expect([map[0], map[1], map.readUInt32BE(4)]).toEqual([2, 1, 60])
    expect([...map.subarray(8, 24)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 2])
    expect([...map.subarray(24, 36)]).toEqual([...nonce])
    expect([map[36], map.readUInt16BE(40), map.readUInt16BE(42)]).toEqual([17, 4001, 4001])
    expect(encodePcpAnnounce('10.1.0.2')).toHaveLength(24)
    expect([...encodeNatPmpMap({ protocol: 'tcp', internalPort: 4001, externalPort: 5000, lifetime: 7200 })]).toEqual([0, 2, 0, 0, 0x0f, 0xa1, 0x13, 0x88, 0, 0, 0x1c, 0x20])
  })

  it('decodes a MAP answer and checks it answers the request', () => {
    expect(decodePcpMap(pcpMapAnswer(mapRequest, { externalPort: 40123 }), mapRequest)).toEqual({
      resultCode: 0,
      lifetime: 60,
      epoch: 100,
      internalPort: 4001,
      externalPort: 40123,
      externalIp: '203.0.113.10',
    })
    // A refusal is returned (the caller decides), not thrown.
    expect(decodePcpMap(pcpMapAnswer(mapRequest, { result: 2 }), mapRequest).resultCode).toBe(2)
  })

  it.each([
    ['short', (a: Buffer) => a.subarray(0, 20), /of 20 bytes/],
    ['cut payload', (a: Buffer) => a.subarray(0, 44), /MAP answer of 44 bytes/],
    ['wrong version', (a: Buffer) => Buffer.concat([Buffer.from([1]), a.subarray(1)]), /version 1/],
    ['not a response', (a: Buffer) => Buffer.concat([Buffer.from([2, 1]), a.subarray(2)]), /opcode 1, not 1|answer to opcode/],
    ['another nonce', (a: Buffer) => Buffer.concat([a.subarray(0, 24), Buffer.alloc(12, 9), a.subarray(36)]), /another nonce/],
    ['another port', (a: Buffer) => Buffer.concat([a.subarray(0, 40), Buffer.from([0, 1]), a.subarray(42)]), /internal port 1/],
    ['external port 0', (a: Buffer) => Buffer.concat([a.subarray(0, 42), Buffer.from([0, 0]), a.subarray(44)]), /external port 0/],
    ['no IPv4 external address', (a: Buffer) => Buffer.concat([a.subarray(0, 44), Buffer.alloc(16)]), /no IPv4 external address/],
  ])('rejects a %s MAP answer as malformed', (_name, mangle, message) => {
    const decode = (): unknown => decodePcpMap(mangle(pcpMapAnswer(mapRequest)), mapRequest)
    expect(decode).toThrow(PcpError)
    expect(decode).toThrow(message)
  })

  it('decodes NAT-PMP answers defensively', () => {
    const address = Buffer.from([0, 128, 0, 0, 0, 0, 0, 5, 203, 0, 113, 10])
    expect(decodeNatPmpAddress(address)).toEqual({ resultCode: 0, epoch: 5, externalIp: '203.0.113.10' })
    expect(() => decodeNatPmpAddress(address.subarray(0, 10))).toThrow(/of 10 bytes/)
    expect(() => decodeNatPmpAddress(Buffer.from([0, 128, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]))).toThrow(/0\.0\.0\.0/)
    // An error answer may end after the epoch.
    expect(decodeNatPmpAddress(Buffer.from([0, 128, 0, 3, 0, 0, 0, 5]))).toEqual({ resultCode: 3, epoch: 5 })
    const map = Buffer.from([0, 129, 0, 0, 0, 0, 0, 9, 0x0f, 0xa1, 0x9c, 0x40, 0, 0, 0, 60])
    const request = { protocol: 'udp' as const, internalPort: 4001, lifetime: 60 }
    expect(decodeNatPmpMap(map, request)).toEqual({ resultCode: 0, epoch: 9, internalPort: 4001, externalPort: 40000, lifetime: 60 })
    expect(() => decodeNatPmpMap(map, { ...request, protocol: 'tcp' })).toThrow(/opcode 1, not 2/)
    expect(() => decodeNatPmpMap(map, { ...request, internalPort: 4002 })).toThrow(/internal port 4001/)
    expect(() => decodePcpHeader(Buffer.alloc(25, 2), 0)).toThrow(PcpError)
  })

  it('tells a rebooted gateway by its epoch (RFC 6887 §8.5)', () => {
    const seen = { epoch: 1000, at: 0 }
    expect(epochRegressed(seen, 1010, 10_000)).toBe(false) // advanced with our clock
    expect(epochRegressed(seen, 1008, 10_000)).toBe(false) // within 7/8 less 2 s
    expect(epochRegressed(seen, 3, 10_000)).toBe(true) // started again
    expect(epochRegressed(seen, 1001, 60_000)).toBe(true) // stood still for a minute: its state was reset
  })

  it('reads the default gateway from /proc/net/route', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t0000010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'eth0\t00000000\t0101000A\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    ].join('\n')
    expect(parseDefaultGateway(table)).toBe('10.0.1.1')
    expect(parseDefaultGateway(table.split('\n').slice(0, 2).join('\n'))).toBeUndefined()
  })

  it('validates options, naming the field', () => {
    expect(() => pcp({ gateway: 'router.lan' })).toThrow(ConfigError)
    expect(() => pcp({ gateway: 'router.lan' })).toThrow(/pcp\.gateway/)
    expect(() => pcp({ protocols: ['pcp', 'pcp'] })).toThrow(/pcp\.protocols/)
    expect(() => pcp({ checkInterval: 10 })).toThrow(/pcp\.checkInterval/)
  })
})

describe('PortControlClient against a fake gateway on loopback', () => {
  const sockets: Socket[] = []
  const clients: PortControlClient[] = []
  afterEach(() => {
    for (const client of clients.splice(0)) client.close()
    for (const socket of sockets.splice(0)) socket.close()
  })

  /** A UDP "gateway" on 127.0.0.2:5351 answering each request with `answer(request)` (nothing when undefined). */
  async function gateway(answer: (request: Buffer) => Buffer | Buffer[] | undefined, address = '127.0.0.2'): Promise<Socket> {
    const socket = createSocket('udp4')
    sockets.push(socket)
    socket.on('message', (message, remote) => {
      const reply = answer(message)
      for (const datagram of reply === undefined ? [] : Array.isArray(reply) ? reply : [reply]) socket.send(datagram, remote.port, remote.address)
    })
    await new Promise<void>((resolve) => socket.bind(5351, address, resolve))
    return socket
  }

  async function client(protocols: Array<'pcp' | 'nat-pmp'> = ['pcp', 'nat-pmp'], schedule = [50, 100]): Promise<PortControlClient> {
    const opened = await PortControlClient.open({ gateway: '127.0.0.2', clientIp: '127.0.0.1', schedule, protocols, nonce })
    clients.push(opened)
    return opened
  }

  const announce = (epoch: number): Buffer => {
    const answer = Buffer.alloc(24)
    answer[0] = 2
    answer[1] = 0x80
    answer.writeUInt32BE(epoch, 8)
    return answer
  }

  it('speaks PCP when the gateway does, skips garbage before the good answer, and notices a reboot', async () => {
    let epoch = 500
    await gateway((request) => {
      if (request[1] === 0) return [Buffer.from('junk'), announce(epoch)]
      const decoded = { ...mapRequest, clientIp: '127.0.0.1', internalPort: request.readUInt16BE(40), externalPort: request.readUInt16BE(42), lifetime: request.readUInt32BE(4) }
      return pcpMapAnswer(decoded, { epoch })
    })
    const c = await client()
    const signal = new AbortController().signal
    expect(await c.probe(signal)).toEqual({ protocol: 'pcp', rebooted: false })
    const mapped = await c.map({ protocol: 'udp', internalPort: 4001, externalPort: 4001, lifetime: 60 }, signal)
    expect(mapped).toMatchObject({ externalPort: 4001, externalIp: '203.0.113.10', rebooted: false })
    epoch = 1
    expect((await c.probe(signal)).rebooted).toBe(true)
  })

  it('falls back to NAT-PMP when the gateway answers a PCP request with version 0', async () => {
    await gateway((request) => {
      if (request[0] === 2) return Buffer.from([0, 128, 0, 1, 0, 0, 0, 7])
      if (request[1] === 0) return Buffer.from([0, 128, 0, 0, 0, 0, 0, 7, 198, 51, 100, 7])
      return Buffer.from([0, 128 + (request[1] as number), 0, 0, 0, 0, 0, 7, request[4] as number, request[5] as number, 0x9c, 0x40, 0, 0, 0, 60])
    })
    const c = await client()
    const signal = new AbortController().signal
    expect(await c.probe(signal)).toEqual({ protocol: 'nat-pmp', externalIp: '198.51.100.7', rebooted: false })
    expect(await c.map({ protocol: 'tcp', internalPort: 4001, externalPort: 4001, lifetime: 60 }, signal)).toMatchObject({ externalPort: 40000, lifetime: 60 })
  })

  it('ignores datagrams from anyone but the gateway, and times out with a typed error', async () => {
    await gateway(() => undefined) // the real one stays silent
    const impostor = await gateway(() => undefined, '127.0.0.3')
    const c = await client(['pcp'], [30, 60])
    // Spray good-looking answers from another address at the client's port.
    const port = (c as unknown as { socket: Socket }).socket.address().port
    const spray = setInterval(() => impostor.send(announce(5), port, '127.0.0.1'), 5)
    try {
      await expect(c.probe(new AbortController().signal)).rejects.toMatchObject({ reason: 'timeout', message: expect.stringContaining('within 90 ms') })
    } finally {
      clearInterval(spray)
    }
  })

  it('fails at once (no-gateway) when the gateway has no server on 5351 (port unreachable), not after every retransmission', async () => {
    const c = await client(['pcp'], [250, 500, 1000])
    const startedAt = Date.now()
    await expect(c.probe(new AbortController().signal)).rejects.toMatchObject({ reason: 'no-gateway', message: expect.stringContaining('port unreachable') })
    expect(Date.now() - startedAt).toBeLessThan(1000) // the second send learns of the ICMP error; the schedule is 1750 ms
  })

  it('reports a garbled-only gateway as malformed, a refusal as a result code, a stop as aborted', async () => {
    let mode: 'garbage' | 'refuse' = 'garbage'
    await gateway((request) => {
      if (mode === 'garbage') return Buffer.alloc(7, 2)
      if (request[1] === 0) return announce(10)
      return pcpMapAnswer({ ...mapRequest, clientIp: '127.0.0.1' }, { result: 2, epoch: 10 })
    })
    const c = await client(['pcp'], [30, 60])
    await expect(c.probe(new AbortController().signal)).rejects.toMatchObject({ reason: 'malformed' })
    mode = 'refuse'
    await c.probe(new AbortController().signal)
    await expect(c.map({ protocol: 'udp', internalPort: 4001, externalPort: 4001, lifetime: 60 }, new AbortController().signal)).rejects.toMatchObject({
      reason: 'result',
      resultCode: 2,
      message: expect.stringContaining('NOT_AUTHORIZED'),
    })
    const stop = new AbortController()
    stop.abort()
    await expect(c.probe(stop.signal)).rejects.toMatchObject({ reason: 'aborted' })
  })
})

describe('pcp() when a path goes silent', () => {
  const sockets: Socket[] = []
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close()
  })

  it('asks the gateway at once (a rebooted router drops every NAT state), not at the next checkInterval', async () => {
    // A PCP gateway on 127.0.0.2:5351 that answers ANNOUNCE and MAP, and notes when each MAP came.
    const maps: number[] = []
    const socket = createSocket('udp4')
    sockets.push(socket)
    socket.on('message', (request, remote) => {
      if (request[0] !== 2) return
      const opcode = (request[1] ?? 0) & 0x7f
      let answer: Buffer | undefined
      if (opcode === 0) {
        answer = Buffer.alloc(24)
        answer[0] = 2
        answer[1] = 0x80
        answer.writeUInt32BE(1000, 8)
      } else if (opcode === 1) {
        maps.push(Date.now())
        const protocol = request[36] === 17 ? ('udp' as const) : ('tcp' as const)
        const decoded = { clientIp: '127.0.0.1', nonce: Uint8Array.from(request.subarray(24, 36)), protocol, internalPort: request.readUInt16BE(40), externalPort: request.readUInt16BE(42), lifetime: request.readUInt32BE(4) }
        answer = pcpMapAnswer(decoded, { epoch: 1000 })
      }
      if (answer !== undefined) socket.send(answer, remote.port, remote.address)
    })
    await new Promise<void>((resolve) => socket.bind(5351, '127.0.0.2', resolve))
    const node = await startNode({ connection: { pathTimeout: 1_000 }, services: [pcp({ gateway: '127.0.0.2', checkInterval: 60_000 })] })
    expect(node.addresses.some((address) => address.includes('203.0.113.10'))).toBe(true)
    const peer = await startNode()
    peer.handle(() => undefined)
    const proxy = await pathProxy('tcp', Number(new URL(peer.addresses.find((a) => a.startsWith('tcp://')) ?? '').port))
    try {
      await node.connect({ peerId: peer.peerId, addresses: [`tcp://127.0.0.1:${proxy.port}`] })
      const mapsBefore = maps.length
      proxy.blackhole()
      const silentAt = Date.now()
      await node.send(peer.peerId, Buffer.from('anyone there?')).catch(() => {})
      const deadline = Date.now() + 5_000
      while (maps.length === mapsBefore && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      // Every mapping asked for again, well before the 60 s check.
      expect(maps.length - mapsBefore).toBeGreaterThanOrEqual(2)
      expect((maps.at(-1) ?? Number.POSITIVE_INFINITY) - silentAt).toBeLessThan(5_000)
    } finally {
      await proxy.close()
    }
  })
})
