import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AuthenticationError,
  DialError,
  type NodeConfigInput,
  type ServiceStream,
  type ServiceFactory,
  createCertificateAuthority,
  writeNodeCertificateFiles,
} from '@crust/core'
import { quic } from '@crust/transport-quic'
import { describe, expect, it } from 'vitest'
import { relay, relayServer } from '../src/relay/index.js'
import { HOP_PROTOCOL, STOP_PROTOCOL } from '../src/relay/protocol.js'
import { contactOf, serviceEvents, sha256, startNode, triangle, waitFor } from './relay-helpers.js'

/** The error the relay connector gave, out of the manager's DialError. */
function viaRelay(error: unknown): Error | undefined {
  return error instanceof DialError ? error.errors.find((failure) => failure.address === 'via relay')?.error : undefined
}

describe('relay: connecting through a relay', () => {
  it('connects A to B through R: relayed on both ends, messages and requests both ways, 5 MiB intact', async () => {
    const { a, b } = await triangle()
    const received: Buffer[] = []
    a.handle((message) => (message.isRequest ? Buffer.from(`a:${Buffer.from(message.data)}`) : undefined))
    b.handle((message) => {
      if (message.isRequest) return Buffer.from(`b:${Buffer.from(message.data)}`)
      received.push(Buffer.from(message.data))
      return undefined
    })
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
    expect(connection.transport).toBe('relay')
    expect(connection.peerId).toBe(b.peerId)
    await waitFor(() => b.getConnection(a.peerId) !== undefined, 5000, 'B to pool A')
    const back = b.getConnection(a.peerId)!
    expect(back.method).toBe('relayed')
    expect(back.direction).toBe('inbound')

    expect(Buffer.from(await connection.request(Buffer.from('ping'))).toString()).toBe('b:ping')
    expect(Buffer.from(await back.request(Buffer.from('pong'))).toString()).toBe('a:pong')
    expect(await connection.ping()).toBeGreaterThan(0)

    const big = randomBytes(5 * 1024 * 1024)
    await connection.send(big)
    await waitFor(() => received.length === 1, 10_000, 'the 5 MiB message')
    expect(sha256(received[0]!)).toBe(sha256(big))
  })

  it('the relay forwards only ciphertext: a plaintext marker never crosses it', async () => {
    const forwarded = new Map<string, Buffer[]>()
    const { a, b } = await triangle({
      server: {
        tap: ({ from, data }) => {
          const list = forwarded.get(from) ?? []
          list.push(Buffer.from(data))
          forwarded.set(from, list)
        },
      },
    })
    const marker = Buffer.from('PLAINTEXT-MARKER-3f1c9e-do-not-leak')
    const got: Buffer[] = []
    b.handle((message) => {
      got.push(Buffer.from(message.data))
      return message.isRequest ? Buffer.concat([marker, marker]) : undefined
    })
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    const payload = Buffer.concat(Array.from({ length: 200 }, () => marker))
    await connection.send(payload)
    const answer = Buffer.from(await connection.request(marker))
    await waitFor(() => got.length === 2, 5000, 'both messages')
    expect(got[0]!.equals(payload)).toBe(true)
    expect(answer.equals(Buffer.concat([marker, marker]))).toBe(true)

    const fromA = Buffer.concat(forwarded.get(a.peerId) ?? [])
    const fromB = Buffer.concat(forwarded.get(b.peerId) ?? [])
    // The relay did carry the traffic (200 markers and more)...
    expect(fromA.byteLength).toBeGreaterThan(payload.byteLength)
    expect(fromB.byteLength).toBeGreaterThan(0)
    // ...yet never saw the marker, not even split across chunks, nor the peer ids in clear.
    for (const stream of [fromA, fromB]) {
      expect(stream.includes(marker)).toBe(false)
      expect(stream.includes(Buffer.from('PLAINTEXT-MARKER'))).toBe(false)
      // What it carried is TLS: each direction opens with a handshake record (content type 22).
      expect(stream[0]).toBe(0x16)
    }
  })

  it('authenticates end to end: a relay that splices A to C instead of B is caught by A (AuthenticationError)', async () => {
    const c = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    const b = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    const evil = await startNode({ services: [splicingRelay(() => c.peerId)] })
    const a = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    await Promise.all([a.connect(contactOf(evil)), b.connect(contactOf(evil)), c.connect(contactOf(evil))])

    const error = await a.connect({ peerId: b.peerId, addresses: [] }, { retry: false }).catch((e: unknown) => e)
    expect(viaRelay(error)).toBeInstanceOf(AuthenticationError)
    expect(a.getConnection(b.peerId)).toBeUndefined()
    expect(a.getConnection(c.peerId)).toBeUndefined()
    // C verified A's certificate (that part was genuine) but A walked away: C pools nothing.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(c.getConnection(a.peerId)).toBeUndefined()
  })

  it('relays over QUIC connections to the relay just the same', async () => {
    const transports = { transports: [quic({ host: '127.0.0.1' })] }
    const { a, b } = await triangle({ r: transports, a: transports, b: transports })
    const got: Buffer[] = []
    b.handle((message) => {
      got.push(Buffer.from(message.data))
      return message.isRequest ? Buffer.from('over quic') : undefined
    })
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
    expect(Buffer.from(await connection.request(Buffer.from('?'))).toString()).toBe('over quic')
    const data = randomBytes(2 * 1024 * 1024)
    await connection.send(data)
    await waitFor(() => got.length === 2, 10_000, 'the 2 MiB message')
    expect(sha256(got[1]!)).toBe(sha256(data))
  })

  it('works in auth mode ca: both ends check the chain end to end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-relay-ca-'))
    const ca = await createCertificateAuthority({ name: 'Relay Test CA' })
    const auth = async (name: string): Promise<Partial<NodeConfigInput>> => ({
      auth: { mode: 'ca', ca: [ca.certificatePem], ...(await writeNodeCertificateFiles(ca, { dir, name })) },
    })
    const { a, b } = await triangle({ r: await auth('r'), a: await auth('a'), b: await auth('b') })
    b.handle(() => Buffer.from('certified'))
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('relayed')
    expect(Buffer.from(await connection.request(Buffer.from('?'))).toString()).toBe('certified')
  })

  it('keeps a node behind NAT connected to its configured relay, so it stays reachable through it', async () => {
    const r = await startNode({ services: [relayServer()] })
    const reconnect = { initialDelay: 50, maxAttempts: 3 }
    const b = await startNode({ role: 'client', services: [relay({ upgrade: false, relays: [contactOf(r)], reconnect })] })
    const a = await startNode({ role: 'client', services: [relay({ upgrade: false, relays: [r.peerId] })] })
    await a.connect(contactOf(r))
    await waitFor(() => r.getConnection(b.peerId) !== undefined, 5000, 'B to connect to its relay')
    expect((await a.connect({ peerId: b.peerId, addresses: [] })).method).toBe('relayed')

    // The relay drops B: B dials it again.
    await r.getConnection(b.peerId)!.close()
    await waitFor(() => r.getConnection(b.peerId) === undefined, 5000, 'the drop')
    await waitFor(() => r.getConnection(b.peerId) !== undefined, 5000, 'B to reconnect')

    // A relay that is gone for good: bounded attempts, then a notice.
    const gone = await startNode({ services: [relayServer()] })
    const contact = contactOf(gone)
    await gone.stop()
    const c = await startNode({ role: 'client', services: [relay({ upgrade: false, relays: [contact], reconnect })] })
    const notices = serviceEvents(c, 'relay')
    const notice = await notices.next(5000, 'relay:unreachable')
    expect(notice.type).toBe('relay:unreachable')
    expect(notice.message).toMatch(/after 3 attempts/)
  })

  it('measures relayed throughput (10 MiB, no bandwidth limit) and set-up time', async () => {
    const { a, b } = await triangle({ server: { maxBytesPerSecond: 0 } })
    let done: (() => void) | undefined
    const arrived = new Promise<void>((resolve) => {
      done = resolve
    })
    let bytes = 0
    b.handle((message) => {
      bytes += message.data.byteLength
      if (bytes >= 10 * 1024 * 1024) done?.()
      return undefined
    })
    const t0 = performance.now()
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    const setupMs = performance.now() - t0
    const t1 = performance.now()
    await connection.send(randomBytes(10 * 1024 * 1024))
    await arrived
    const seconds = (performance.now() - t1) / 1000
    const mbps = (10 * 1024 * 1024) / 1e6 / seconds
    console.log(`relay figures: set-up ${setupMs.toFixed(1)} ms, 10 MiB in ${(seconds * 1000).toFixed(0)} ms = ${mbps.toFixed(1)} MB/s`)
    expect(setupMs).toBeLessThan(2000)
  })

  it('enforces the bandwidth limit per peer by throttling, not by resetting', async () => {
    const { a, b } = await triangle({ server: { maxBytesPerSecond: 1024 * 1024 } })
    const got: Buffer[] = []
    b.handle((message) => {
      got.push(Buffer.from(message.data))
      return undefined
    })
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    await new Promise((resolve) => setTimeout(resolve, 1100)) // let the bucket fill: 1 MiB of burst
    const data = randomBytes(2 * 1024 * 1024)
    const t0 = performance.now()
    await connection.send(data)
    await waitFor(() => got.length === 1, 10_000, 'the throttled message')
    const elapsed = performance.now() - t0
    expect(sha256(got[0]!)).toBe(sha256(data))
    // 1 MiB of burst, then 1 MiB at 1 MiB/s.
    expect(elapsed).toBeGreaterThan(800)
    expect(elapsed).toBeLessThan(4000)
  })
})

/**
 * A malicious relay: whoever A asks for, it connects A to `victim()` (which
 * runs a genuine relay client) and pipes the bytes.
 */
function splicingRelay(victim: () => string): ServiceFactory {
  return (components) => ({
    id: 'evil-relay',
    start: async () => {
      components.handleProtocol(HOP_PROTOCOL, (stream, requester) => {
        void (async () => {
          await stream.readFrame(1024)
          const target = components.connection(victim())
          if (target === undefined) return stream.reset()
          const out = await target.openProtocolStream(STOP_PROTOCOL)
          await out.writeFrame(Buffer.from(JSON.stringify({ type: 'incoming', from: requester.peerId })))
          await out.readFrame(1024)
          await stream.writeFrame(Buffer.from(JSON.stringify({ type: 'connected' })))
          await Promise.allSettled([pipe(stream, out), pipe(out, stream)])
        })().catch(() => stream.reset())
      })
    },
    stop: async () => {},
  })
}

async function pipe(from: ServiceStream, to: ServiceStream): Promise<void> {
  try {
    for await (const chunk of from) await to.write(chunk)
    await to.end()
  } catch {
    from.reset()
    to.reset()
  }
}
