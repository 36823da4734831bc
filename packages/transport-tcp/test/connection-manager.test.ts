import { AllCandidatesFailedError, BlacklistedError, CloseCode, ConnectionLimitError, DialError, createNode } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { tcp } from '../src/index.js'
import { contactOf, deadPort, startNode, waitFor } from './helpers.js'

describe('connection manager over real TCP', () => {
  it('reuses the pooled connection for a second connect', async () => {
    const a = await startNode()
    const b = await startNode()
    const first = await a.connect(contactOf(b))
    const second = await a.connect(contactOf(b))
    expect(second).toBe(first)
    expect(a.connections).toHaveLength(1)
  })

  it('shares one attempt among concurrent connects to the same peer', async () => {
    const a = await startNode()
    const b = await startNode()
    let opened = 0
    b.on('connection:open', () => opened++)
    const connections = await Promise.all(Array.from({ length: 10 }, () => a.connect(contactOf(b))))
    expect(new Set(connections).size).toBe(1)
    await waitFor(() => opened === 1)
    await new Promise((r) => setTimeout(r, 100))
    expect(opened).toBe(1)
    expect(b.connections).toHaveLength(1)
  })

  it('ends a simultaneous open with exactly one connection, the same on both sides', async () => {
    for (let round = 0; round < 5; round++) {
      const a = await startNode()
      const b = await startNode()
      b.handle((m) => (m.isRequest ? Buffer.from('from b') : undefined))
      a.handle((m) => (m.isRequest ? Buffer.from('from a') : undefined))
      const [ab, ba] = await Promise.all([a.connect(contactOf(b)), b.connect(contactOf(a))])
      await waitFor(() => a.connections.length === 1 && b.connections.length === 1)
      await new Promise((r) => setTimeout(r, 100))
      expect(a.connections).toHaveLength(1)
      expect(b.connections).toHaveLength(1)
      const [onA] = a.connections
      const [onB] = b.connections
      expect(onA!.localAddress).toBe(onB!.remoteAddress)
      expect(onA!.remoteAddress).toBe(onB!.localAddress)
      // The handles the callers got still work, whichever connection won.
      expect(Buffer.from(await ab.request(Buffer.from('?'))).toString()).toBe('from b')
      expect(Buffer.from(await ba.request(Buffer.from('?'))).toString()).toBe('from a')
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('connectAny keeps the first live candidate and ignores dead ones', async () => {
    const a = await startNode({ retry: { maxAttempts: 1 } })
    const live = await startNode()
    const slowLive = await startNode()
    const dead = { peerId: live.peerId.replace(/.$/, 'a'), addresses: [`tcp://127.0.0.1:${await deadPort()}`] }
    const conn = await a.connectAny([dead, contactOf(live), contactOf(slowLive)])
    expect([live.peerId, slowLive.peerId]).toContain(conn.peerId)
    await new Promise((r) => setTimeout(r, 200))
    expect(a.connections.map((c) => c.peerId)).toEqual([conn.peerId])
  })

  it('connectAny reports every candidate when all are dead', async () => {
    const a = await startNode({ retry: { maxAttempts: 1 } })
    const candidates = [
      { addresses: [`tcp://127.0.0.1:${await deadPort()}`] },
      { addresses: [`tcp://127.0.0.1:${await deadPort()}`] },
    ]
    const failure = await a.connectAny(candidates).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(AllCandidatesFailedError)
    expect((failure as AllCandidatesFailedError).errors).toHaveLength(2)
  })

  it('retries with backoff and succeeds when the listener comes up late', async () => {
    const port = await deadPort()
    const a = await startNode({ retry: { initialDelay: 50, maxDelay: 200, maxElapsed: 10_000, maxAttempts: 50 } })
    const retries: number[] = []
    a.on('dial:retry', ({ attempt }) => retries.push(attempt))
    const late = await createNode({
      networkName: 'test-net',
      transports: [tcp({ host: '127.0.0.1', port })],
      bootstrap: { cache: false },
      logLevel: 'error',
    })
    const connecting = a.connect({ peerId: late.peerId, addresses: [`tcp://127.0.0.1:${port}`] })
    await new Promise((r) => setTimeout(r, 400))
    await late.start()
    try {
      const conn = await connecting
      expect(conn.peerId).toBe(late.peerId)
      expect(retries.length).toBeGreaterThan(0)
    } finally {
      await late.stop()
    }
  })

  it('aborts a dial through its signal', async () => {
    const a = await startNode()
    const b = await startNode()
    const controller = new AbortController()
    controller.abort()
    await expect(a.connect(contactOf(b), { signal: controller.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('listens on IPv4 and IPv6 and connects over both', async () => {
    const b = await startNode({ transports: [tcp()] })
    const v6 = b.addresses.find((address) => address.startsWith('tcp://[::1]'))
    const v4 = b.addresses.find((address) => address.startsWith('tcp://127.0.0.1'))
    expect(v6).toBeDefined()
    expect(v4).toBeDefined()
    const a4 = await startNode()
    const a6 = await startNode({ transports: [tcp({ host: '::1' })] })
    expect((await a4.connect({ peerId: b.peerId, addresses: [v4!] })).remoteAddress).toBe(v4)
    expect((await a6.connect({ peerId: b.peerId, addresses: [v6!] })).remoteAddress).toBe(v6)
  })
})

describe('blacklist', () => {
  it('by peer id: closes the existing connection at once and refuses new ones both ways', async () => {
    const a = await startNode({ retry: { maxAttempts: 1 } })
    const b = await startNode({ retry: { maxAttempts: 1 } })
    const conn = await a.connect(contactOf(b))
    await waitFor(() => b.connections.length === 1)
    const closed = conn.closed
    const started = Date.now()
    a.blacklist.add(b.peerId)
    const info = await closed
    expect(Date.now() - started).toBeLessThan(500)
    expect(info.code).toBe(CloseCode.BLACKLISTED)
    await waitFor(() => b.connections.length === 0)
    await expect(a.connect(contactOf(b))).rejects.toBeInstanceOf(BlacklistedError)
    await expect(b.connect(contactOf(a))).rejects.toBeInstanceOf(BlacklistedError)
    a.blacklist.remove(b.peerId)
    expect((await a.connect(contactOf(b))).peerId).toBe(b.peerId)
  })

  it.each([
    ['IP', '127.0.0.1'],
    ['CIDR', '127.0.0.0/8'],
  ])('by %s: closes existing connections and refuses new ones both ways before TLS', async (_kind, entry) => {
    const a = await startNode({ retry: { maxAttempts: 1 } })
    const b = await startNode({ retry: { maxAttempts: 1 } })
    const conn = await a.connect(contactOf(b))
    const rejected: string[] = []
    a.on('connection:rejected', ({ error }) => rejected.push(error.constructor.name))
    a.blacklist.add(entry)
    expect((await conn.closed).code).toBe(CloseCode.BLACKLISTED)
    await expect(a.connect(contactOf(b))).rejects.toBeInstanceOf(BlacklistedError)
    // Refused before TLS: the dialler only sees the reset; the refusing side names the reason.
    await expect(b.connect(contactOf(a))).rejects.toBeInstanceOf(DialError)
    expect(rejected).toContain('BlacklistedError')
    expect(a.connections).toHaveLength(0)
  })

  it('applies blacklist entries from config', async () => {
    const b = await startNode()
    const a = await startNode({ blacklist: { peers: [b.peerId] } })
    await expect(a.connect(contactOf(b))).rejects.toBeInstanceOf(BlacklistedError)
  })
})

describe('limits and liveness', () => {
  it('refuses inbound connections beyond the per-IP limit', async () => {
    const server = await startNode({ connection: { maxInboundPerIp: 2 } })
    const clients = await Promise.all([1, 2, 3].map(() => startNode({ retry: { maxAttempts: 1 } })))
    const results = await Promise.allSettled(clients.map((c) => c.connect(contactOf(server))))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2)
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1)
  })

  it('closes an idle connection after the idle timeout, and keep-alive prevents it', async () => {
    const quiet = { connection: { idleTimeout: 300, keepAliveInterval: 0 } }
    const a = await startNode(quiet)
    const b = await startNode(quiet)
    const conn = await a.connect(contactOf(b))
    const info = await conn.closed
    expect(info.code).toBe(CloseCode.IDLE_TIMEOUT)

    const lively = { connection: { idleTimeout: 300, keepAliveInterval: 100 } }
    const c = await startNode(lively)
    const d = await startNode(lively)
    d.handle(() => Buffer.from('yes'))
    const kept = await c.connect(contactOf(d))
    await new Promise((r) => setTimeout(r, 1000))
    expect(c.getConnection(d.peerId)).toBe(kept)
    expect(Buffer.from(await kept.request(Buffer.from('still there?'))).toString()).toBe('yes')
  })
})

describe('events and network names', () => {
  it('emits open, close (with reason) and blacklist change events', async () => {
    const a = await startNode()
    const b = await startNode()
    const seen: string[] = []
    a.on('connection:open', ({ connection }) => seen.push(`open ${connection.peerId === b.peerId}`))
    a.on('connection:close', ({ code, remote }) => seen.push(`close ${code} remote=${remote}`))
    a.on('blacklist:change', ({ type, kind }) => seen.push(`${type} ${kind}`))
    b.on('connection:close', ({ code, remote }) => seen.push(`b close ${code} remote=${remote}`))
    const conn = await a.connect(contactOf(b))
    await waitFor(() => b.connections.length === 1)
    await conn.close()
    await waitFor(() => seen.length >= 3)
    a.blacklist.add('10.0.0.0/8')
    expect(seen).toEqual(
      expect.arrayContaining(['open true', `close ${CloseCode.NORMAL} remote=false`, `b close ${CloseCode.NORMAL} remote=true`, 'add cidr']),
    )
  })

  it('refuses a peer of another network with NetworkMismatchError on both sides', async () => {
    const a = await startNode({ networkName: 'net-one', retry: { maxAttempts: 1 } })
    const b = await startNode({ networkName: 'net-two' })
    const rejected: Error[] = []
    b.on('connection:rejected', ({ error }) => rejected.push(error))
    const failure = await a.connect(contactOf(b)).catch((e: unknown) => e)
    expect((failure as Error).name).toBe('NetworkMismatchError')
    await waitFor(() => rejected.length > 0)
    expect(rejected[0]!.name).toBe('NetworkMismatchError')
    expect(a.connections).toHaveLength(0)
    expect(b.connections).toHaveLength(0)
  })

  it('refuses connections beyond maxConnections', async () => {
    const server = await startNode({ connection: { maxConnections: 2 } })
    const clients = await Promise.all([1, 2, 3].map(() => startNode({ retry: { maxAttempts: 1 } })))
    for (const client of clients.slice(0, 2)) await client.connect(contactOf(server))
    await waitFor(() => server.connections.length === 2)
    const rejected: Error[] = []
    server.on('connection:rejected', ({ error }) => rejected.push(error))
    // Refused before TLS: the dialler only sees the reset; the server names the reason.
    await expect(clients[2]!.connect(contactOf(server))).rejects.toBeInstanceOf(DialError)
    await waitFor(() => rejected.length > 0)
    expect(rejected[0]).toBeInstanceOf(ConnectionLimitError)
    expect(server.connections).toHaveLength(2)
  })
})
