import { generateKeyPairSync } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { type CrustNode, DialError, StreamResetError, peerIdFromPublicKey } from '@crust/core'
import { StreamResetCode, parseAddress } from '@crust/core/plugin'
import { waitUntil } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { type HolePunchService, holePunch } from '../src/index.js'
import { screenCandidates } from '../src/holepunch/candidates.js'
import { HOLE_PUNCH_PROTOCOL } from '../src/holepunch/messages.js'
import { punchPacket } from '../src/holepunch/puncher.js'
import { startNode } from './helpers.js'

const loopback = { allowLoopback: true, punchTimeout: 3_000 }

/** A well-formed peer id nobody runs. */
const nobody = peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey)

function quicOf(node: CrustNode): string {
  return node.addresses.find((address) => address.startsWith('quic://')) as string
}

/** R serves as rendezvous; A and B are connected to R only. */
async function triangle(options = loopback): Promise<{ r: CrustNode; a: CrustNode; b: CrustNode }> {
  const r = await startNode({ services: [holePunch(options)] })
  const a = await startNode({ services: [holePunch(options)] })
  const b = await startNode({ services: [holePunch(options)] })
  await a.connect({ peerId: r.peerId, addresses: r.addresses })
  await b.connect({ peerId: r.peerId, addresses: r.addresses })
  return { r, a, b }
}

async function frameExchange(connection: Awaited<ReturnType<CrustNode['connect']>>, frame: unknown): Promise<unknown> {
  const stream = await connection.openProtocolStream(HOLE_PUNCH_PROTOCOL)
  await stream.writeFrame(Buffer.from(JSON.stringify(frame)))
  const answer = await stream.readFrame(4096)
  return JSON.parse(Buffer.from(answer ?? []).toString())
}

describe('screenCandidates', () => {
  it('keeps QUIC IP literals and refuses other families, hostnames and special ranges with reasons', () => {
    const { targets, rejected } = screenCandidates(
      [
        'quic://203.0.113.10:4001',
        'quic://[2001:db8::7]:4001',
        'tcp://203.0.113.10:4001',
        'quic://example.com:4001',
        'quic://0.0.0.0:4001',
        'quic://239.255.84.84:4001',
        'quic://255.255.255.255:4001',
        'quic://127.0.0.1:4001',
        'quic://[fe80::1]:4001',
        'quic://[ff02::1]:4001',
        'garbage',
      ],
      { allowLoopback: false },
    )
    expect(targets).toEqual([
      { host: '203.0.113.10', port: 4001 },
      { host: '2001:db8::7', port: 4001 },
    ])
    expect(rejected.map((r) => r.reason)).toEqual([
      'not-quic',
      'not-ip-literal',
      'unspecified',
      'multicast',
      'broadcast',
      'loopback',
      'link-local',
      'multicast',
      'not-quic',
    ])
  })

  it('recognises loopback and unspecified addresses in any spelling, IPv4-mapped too', () => {
    const { targets, rejected } = screenCandidates(
      ['quic://[0:0:0:0:0:0:0:1]:4001', 'quic://[::ffff:127.0.0.1]:4001', 'quic://[::0]:4001', 'quic://[::ffff:0.0.0.0]:4001'],
      { allowLoopback: false },
    )
    expect(targets).toEqual([])
    expect(rejected.map((r) => r.reason)).toEqual(['loopback', 'loopback', 'unspecified', 'unspecified'])
  })

  it('takes at most 8 candidates', () => {
    const many = Array.from({ length: 12 }, (_, i) => `quic://198.51.100.${i + 1}:4001`)
    const { targets, rejected } = screenCandidates(many, { allowLoopback: false })
    expect(targets).toHaveLength(8)
    expect(rejected.every((r) => r.reason === 'too-many')).toBe(true)
  })
})

describe('holePunch()', () => {
  it('rejects bad options naming the field', () => {
    expect(() => holePunch({ punchTimeout: 1 })).toThrow(/holePunch\.punchTimeout/)
  })

  it('connects two peers known only by id through a rendezvous; both ends say punched', async () => {
    const { a, b } = await triangle()
    const inbound = b.once('connection:open')
    const started = performance.now()
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(connection).toMatchObject({ transport: 'quic', method: 'punched' })
    expect((await inbound).connection.method).toBe('punched')
    a.handle(() => Buffer.from('from a'))
    b.handle(() => Buffer.from('from b'))
    expect(Buffer.from(await connection.request(Buffer.from('hi'))).toString()).toBe('from b')
    expect(Buffer.from((await b.getConnection(a.peerId)?.request(Buffer.from('hi'))) ?? []).toString()).toBe('from a')
  })

  it('keeps the rendezvous in use connected: both sides redial it when it drops them, and it introduces them again', async () => {
    const { r, a, b } = await triangle()
    await a.connect({ peerId: b.peerId, addresses: [] })
    await a.getConnection(b.peerId)?.close('start over')
    await waitUntil(() => a.getConnection(b.peerId) === undefined && b.getConnection(a.peerId) === undefined, 3_000, 'the close')
    // The rendezvous drops both: nothing but the hole punch service's keep brings them back.
    const old = [a.getConnection(r.peerId), b.getConnection(r.peerId)]
    await Promise.all([r.getConnection(a.peerId)?.close('dropped'), r.getConnection(b.peerId)?.close('dropped')])
    await waitUntil(() => [a, b].every((node, i) => ![undefined, old[i]].includes(node.getConnection(r.peerId))), 5_000, 'the rendezvous redialled')
    expect(a.kept).toEqual([]) // a service's hold, not the application's
    expect((await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false })).method).toBe('punched')
  })

  it('keeps configured rendezvousPeers connected from the start and asks them first', async () => {
    const r = await startNode({ services: [holePunch(loopback)] })
    const options = { ...loopback, rendezvousPeers: [{ peerId: r.peerId, addresses: r.addresses }] }
    const a = await startNode({ services: [holePunch(options)] })
    const b = await startNode({ services: [holePunch(options)] })
    await waitUntil(() => a.getConnection(r.peerId) !== undefined && b.getConnection(r.peerId) !== undefined, 5_000, 'the rendezvous dialled')
    const old = b.getConnection(r.peerId)
    await r.getConnection(b.peerId)?.close('dropped')
    await waitUntil(() => ![undefined, old].includes(b.getConnection(r.peerId)), 5_000, 'the rendezvous redialled')
    expect((await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false })).method).toBe('punched')
    expect(() => holePunch({ rendezvousPeers: [{ peerId: 'nope', addresses: ['quic://127.0.0.1:1'] }] })).toThrow(/holePunch\.rendezvousPeers/)
  })

  it('simultaneous attempts from both sides end in one connection', async () => {
    const { a, b } = await triangle()
    const [ab, ba] = await Promise.all([a.connect({ peerId: b.peerId, addresses: [] }), b.connect({ peerId: a.peerId, addresses: [] })])
    await waitUntil(() => a.connections.length === 2 && b.connections.length === 2, 3000, 'pools settle')
    const onA = a.getConnection(b.peerId)
    const onB = b.getConnection(a.peerId)
    expect(onA?.localAddress).toBe(onB?.remoteAddress)
    b.handle(() => Buffer.from('ok'))
    a.handle(() => Buffer.from('ok'))
    expect(Buffer.from(await ab.request(Buffer.from('x'))).toString()).toBe('ok')
    expect(Buffer.from(await ba.request(Buffer.from('x'))).toString()).toBe('ok')
  })

  it('fails fast with typed reasons: no rendezvous, or a rendezvous that does not know the peer', async () => {
    const lonely = await startNode({ services: [holePunch(loopback)] })
    const first = await lonely.connect({ peerId: nobody, addresses: [] }, { retry: false }).catch((e: unknown) => e)
    expect(first).toBeInstanceOf(DialError)
    expect(String(first)).toMatch(/no connected peer can act as rendezvous/)

    const { a } = await triangle()
    const started = performance.now()
    const second = await a.connect({ peerId: nobody, addresses: [] }, { retry: false }).catch((e: unknown) => e)
    expect(String(second)).toMatch(/not connected to/)
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('refuses forged introductions: candidates in other families or odd ranges, and garbage frames', async () => {
    const { b } = await triangle()
    const forger = await startNode() // no hole punch service: it speaks the protocol by hand
    const toB = await forger.connect({ peerId: b.peerId, addresses: b.addresses })
    const attempt = '00'.repeat(16)
    const odd = await frameExchange(toB, {
      type: 'offer',
      from: 'bciqsomeonewhoneverasked',
      attempt,
      mapping: 'endpoint-independent',
      candidates: ['tcp://203.0.113.9:1', 'quic://example.com:1', 'quic://239.1.1.1:1', 'quic://0.0.0.0:1', 'quic://255.255.255.255:9'],
    })
    expect(odd).toMatchObject({ type: 'error', reason: 'bad-candidates' })
    expect(await frameExchange(toB, { type: 'offer', from: 'x', attempt: 'not-hex', candidates: [], mapping: 'none' })).toMatchObject({
      type: 'error',
    })
    // Not JSON at all: a typed refusal, and the connection survives.
    const raw = await toB.openProtocolStream(HOLE_PUNCH_PROTOCOL)
    await raw.writeFrame(Buffer.from('{{{{ not json'))
    expect(JSON.parse(Buffer.from((await raw.readFrame(4096)) ?? []).toString())).toMatchObject({ type: 'error', reason: 'bad-message' })
    // An oversized frame is refused before it is buffered.
    const big = await toB.openProtocolStream(HOLE_PUNCH_PROTOCOL)
    await big.writeFrame(Buffer.alloc(100_000, 1)).catch(() => {})
    const refused = await big.readFrame(4096).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(StreamResetError)
    expect(refused).toMatchObject({ resetCode: StreamResetCode.MESSAGE_TOO_LARGE })
    expect(await toB.ping()).toBeGreaterThan(0)
  })

  it('ignores punch packets from strangers and junk datagrams, and QUIC keeps working', async () => {
    const { a, b } = await triangle()
    const port = parseAddress(quicOf(b))?.port as number
    const socket = createSocket('udp4')
    for (let i = 0; i < 200; i++) {
      socket.send(punchPacket('ab'.repeat(16)), port, '127.0.0.1')
      socket.send(Buffer.from([0x00, 1, 2, 3]), port, '127.0.0.1')
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
    socket.close()
    const service = b.runningServices.find((s) => s.id === 'holepunch') as HolePunchService
    expect(service.ignoredPunches).toBeGreaterThan(0)
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('punched')
  })

  it('rate-limits introductions per asking peer', async () => {
    const { r, a, b } = await triangle({ ...loopback, ratePerMinute: 3 } as typeof loopback)
    const toR = a.getConnection(r.peerId)
    if (toR === undefined) throw new Error('not connected')
    const answers: unknown[] = []
    for (let i = 0; i < 5; i++) {
      answers.push(
        await frameExchange(toR, {
          type: 'connect',
          target: b.peerId,
          attempt: i.toString(16).padStart(32, '0'),
          candidates: [quicOf(a)],
          mapping: 'none',
        }),
      )
    }
    expect(answers.slice(0, 3).every((answer) => (answer as { type: string }).type === 'answer')).toBe(true)
    expect(answers.slice(3)).toEqual([
      expect.objectContaining({ type: 'error', reason: 'rate-limited' }),
      expect.objectContaining({ type: 'error', reason: 'rate-limited' }),
    ])
  })
})
