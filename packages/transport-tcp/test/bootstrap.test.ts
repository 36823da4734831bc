import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BootstrapError, type NodeEvents, ReachabilityError, defaultCachePath } from '@crust/core'
import { hashNetworkName } from '@crust/core/plugin'
import { describe, expect, it } from 'vitest'
import { contactOf, deadPort, startNode, waitFor } from './helpers.js'

describe('bootstrap', () => {
  it('joins via a hard-coded contact, then re-joins from the cache after a restart with no contacts', async () => {
    const [a, b, c] = await Promise.all([startNode(), startNode(), startNode()])
    const dir = mkdtempSync(join(tmpdir(), 'crust-bootstrap-'))
    const keyFile = join(dir, 'node.key')
    const d = await startNode({ identity: { keyFile }, bootstrap: { cacheDir: dir, contacts: [contactOf(a)] } })
    const joined: Array<NodeEvents['bootstrap:joined']> = []
    d.on('bootstrap:joined', (e) => joined.push(e))
    const viaContact = await d.bootstrap()
    expect(viaContact.peerId).toBe(a.peerId)
    expect(joined[0]?.source).toBe('contact')
    await d.connect(contactOf(b))
    await d.connect(contactOf(c))
    await d.stop() // flushes the cache

    const cached = JSON.parse(readFileSync(defaultCachePath(hashNetworkName('test-net'), dir), 'utf8')) as { peers: Array<{ peerId: string }> }
    const cachedIds = cached.peers.map((p) => p.peerId).sort()
    expect(cachedIds).toEqual([b.peerId, c.peerId].sort()) // the contact is never cached

    const restarted = await startNode({ identity: { keyFile }, bootstrap: { cacheDir: dir } })
    expect(restarted.peerId).toBe(d.peerId)
    const sources: string[] = []
    restarted.on('bootstrap:joined', ({ source }) => sources.push(source))
    const viaCache = await restarted.bootstrap()
    expect([b.peerId, c.peerId]).toContain(viaCache.peerId)
    expect(sources).toEqual(['cache'])
    // The second call returns the same connection while it is open.
    expect(await restarted.bootstrap()).toBe(viaCache)
  })

  it('runs at start when configured, and skips blacklisted cached peers', async () => {
    const [b, c] = await Promise.all([startNode(), startNode()])
    const dir = mkdtempSync(join(tmpdir(), 'crust-bootstrap-'))
    const seeder = await startNode({ bootstrap: { cacheDir: dir } })
    await seeder.connect(contactOf(b))
    await new Promise((r) => setTimeout(r, 50))
    await seeder.connect(contactOf(c)) // most recent: tried first
    await seeder.stop()

    const node = await startNode({ blacklist: { peers: [c.peerId] }, bootstrap: { cacheDir: dir, onStart: true } })
    expect(node.bootstrapCandidates().map((x) => x.peerId)).toEqual([b.peerId])
    await waitFor(() => node.connections.length === 1)
    expect(node.connections[0]!.peerId).toBe(b.peerId)
  })

  it('tries the next candidate when one is on another network, and reports every reason when all fail', async () => {
    const stranger = await startNode({ networkName: 'other-net' })
    const friend = await startNode()
    const node = await startNode({ bootstrap: { contacts: [contactOf(stranger), contactOf(friend)], parallelism: 1 } })
    expect((await node.bootstrap()).peerId).toBe(friend.peerId)

    const dead1 = { peerId: friend.peerId.replace(/.$/, 'a'), addresses: [`tcp://127.0.0.1:${await deadPort()}`] }
    const lonely = await startNode({ bootstrap: { contacts: [contactOf(stranger), dead1] } })
    const failure = await lonely.bootstrap().catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(BootstrapError)
    const errors = (failure as BootstrapError).errors
    expect(errors.map((e) => e.peerId).sort()).toEqual([stranger.peerId, dead1.peerId].sort())
    expect(errors.find((e) => e.peerId === stranger.peerId)?.error.name).toBe('NetworkMismatchError')
  })

  it('fails clearly with no candidates at all', async () => {
    const node = await startNode()
    await expect(node.bootstrap()).rejects.toThrow(/no bootstrap candidates/)
  })

  it('replaces contacts at run time', async () => {
    const friend = await startNode()
    const node = await startNode()
    node.setContacts([contactOf(friend)])
    expect((await node.bootstrap()).peerId).toBe(friend.peerId)
  })
})

describe('roles and reachability', () => {
  it('a client with no inbound connectivity still exchanges messages and requests both ways', async () => {
    const server = await startNode()
    const client = await startNode({ role: 'client' })
    expect(client.addresses).toEqual([])
    server.handle((m) => (m.isRequest ? Buffer.from(`server: ${Buffer.from(m.data)}`) : undefined))
    const fromServer: string[] = []
    client.handle((m) => {
      fromServer.push(Buffer.from(m.data).toString())
      return m.isRequest ? Buffer.from('client answers') : undefined
    })
    const conn = await client.connect(contactOf(server))
    expect(Buffer.from(await conn.request(Buffer.from('hi'))).toString()).toBe('server: hi')
    await waitFor(() => server.getConnection(client.peerId) !== undefined)
    const back = server.getConnection(client.peerId)!
    expect(back.remoteRole).toBe('client')
    await back.send(Buffer.from('pushed'))
    expect(Buffer.from(await back.request(Buffer.from('q'))).toString()).toBe('client answers')
    await waitFor(() => fromServer.length === 2)
  })

  it('verifies a reachable node by dialling back, and demotes one whose claimed address is dead', async () => {
    const server = await startNode()
    const verified: Array<NodeEvents['peer:verified']> = []
    server.on('peer:verified', (e) => verified.push(e))
    const honest = await startNode()
    await honest.connect(contactOf(server))
    await waitFor(() => verified.some((v) => v.peerId === honest.peerId))
    expect(verified.find((v) => v.peerId === honest.peerId)?.reachable).toBe(true)
    expect(server.getConnection(honest.peerId)?.remoteRole).toBe('node')

    const liar = await startNode({ externalAddresses: [`tcp://127.0.0.1:${await deadPort()}`] })
    await liar.connect(contactOf(server))
    await waitFor(() => verified.some((v) => v.peerId === liar.peerId), 8000)
    expect(verified.find((v) => v.peerId === liar.peerId)?.reachable).toBe(false)
    expect(server.getConnection(liar.peerId)?.remoteRole).toBe('client')
  })

  it('refuses a node that fails the check when configured to, with ReachabilityError on both sides', async () => {
    const strict = await startNode({ reachability: { check: 'refuse', timeout: 1000 } })
    const rejected: Error[] = []
    strict.on('connection:rejected', ({ error }) => rejected.push(error))
    const liar = await startNode({ externalAddresses: [`tcp://127.0.0.1:${await deadPort()}`], retry: { maxAttempts: 1 } })
    await expect(liar.connect(contactOf(strict))).rejects.toBeInstanceOf(ReachabilityError)
    await waitFor(() => rejected.length > 0)
    expect(rejected[0]).toBeInstanceOf(ReachabilityError)
    // A client is exempt from the check.
    const client = await startNode({ role: 'client' })
    expect((await client.connect(contactOf(strict))).peerId).toBe(strict.peerId)
  })

  it('learns its external address from peers (echo)', async () => {
    const peer = await startNode()
    const node = await startNode()
    await node.connect(contactOf(peer))
    const port = new URL(node.addresses[0]!.replace('tcp://', 'http://')).port
    expect(node.externalAddresses.tcp).toEqual([`tcp://127.0.0.1:${port}`])
  })
})
