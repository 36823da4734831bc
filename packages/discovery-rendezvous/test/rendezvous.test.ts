import type { ServiceFactory } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { rendezvous } from '../src/index.js'
import { type TransportName, sleep, startClient, startNode, startServer, uniqueNetwork, waitFor } from './helpers.js'

const connected = (a: { node: { connections: ReadonlyArray<{ peerId: string }> } }, peerId: string): boolean =>
  a.node.connections.some((connection) => connection.peerId === peerId)

describe.each<TransportName>(['tcp', 'quic'])('rendezvous on loopback over %s', (transport) => {
  it('two clients of one server find each other by topic and connect', async () => {
    const network = uniqueNetwork()
    const { node: serverNode, server, contact } = await startServer(transport, network)
    const a = await startClient(transport, network, { servers: [contact], topics: ['t'] })
    const b = await startClient(transport, network, { servers: [contact], topics: ['t'] })
    await waitFor(() => connected(a, b.node.peerId) && connected(b, a.node.peerId), 5000, 'a and b connected')
    await waitFor(() => a.discovered.length > 0 && b.discovered.length > 0, 3000, 'both discovered')
    const found = a.discovered.find((peer) => peer.peerId === b.node.peerId)
    expect(found?.via).toBe('rendezvous')
    expect(found?.addresses).toEqual(b.node.addresses)
    expect(a.discovered.some((peer) => peer.peerId === serverNode.peerId || peer.peerId === a.node.peerId)).toBe(false)
    expect(server.stats()).toMatchObject({ registrations: 2, peers: 2, topics: 1 })
    for (const client of [a, b]) expect(Object.values(client.rv.stats().rejected).every((n) => n === 0)).toBe(true)
  })

  it('join and leave at runtime', async () => {
    const network = uniqueNetwork()
    const { server, contact } = await startServer(transport, network)
    const a = await startClient(transport, network, { servers: [contact], topics: ['one'], autoConnect: false })
    const b = await startClient(transport, network, { servers: [contact], topics: ['two'], autoConnect: false })
    await waitFor(() => server.stats().registrations === 2, 5000, 'both registered')
    await sleep(700)
    expect(a.discovered).toHaveLength(0)
    a.rv.join('two')
    await waitFor(() => a.discovered.some((peer) => peer.peerId === b.node.peerId), 3000, 'a finds b after joining two')
    expect(a.rv.topics().sort()).toEqual(['one', 'two'])
    expect(server.stats().registrations).toBe(3)
    a.rv.leave('two')
    await waitFor(() => server.stats().registrations === 2, 3000, 'a unregistered from two')
    b.rv.join('one')
    await waitFor(() => b.discovered.some((peer) => peer.peerId === a.node.peerId), 3000, 'b finds a under one')
    // Without autoConnect nothing was dialled.
    expect(connected(a, b.node.peerId)).toBe(false)
  })

  it('a node that stops unregisters at once: the servers stop handing out its record before it expires', async () => {
    const network = uniqueNetwork()
    const first = await startServer(transport, network)
    const second = await startServer(transport, network)
    const a = await startClient(transport, network, { servers: [first.contact, second.contact], topics: ['one', 'two'], autoConnect: false })
    // Another node stays registered: only a's registrations go.
    await startClient(transport, network, { servers: [first.contact, second.contact], topics: ['one'], autoConnect: false })
    await waitFor(() => first.server.stats().registrations === 3 && second.server.stats().registrations === 3, 5000, 'all registered')
    await a.node.stop()
    // Within stop(): no waiting for the 10 min TTL.
    expect(first.server.stats()).toMatchObject({ registrations: 1, peers: 1, requests: { unregister: 2 } })
    expect(second.server.stats()).toMatchObject({ registrations: 1, peers: 1, requests: { unregister: 2 } })
  })

  it('connect({ peerId }) with no addresses looks the peer up and dials it', async () => {
    const network = uniqueNetwork()
    const { contact } = await startServer(transport, network)
    const a = await startClient(transport, network, { servers: [contact], topics: [], autoConnect: false })
    const b = await startClient(transport, network, { servers: [contact], topics: ['hidden'], autoConnect: false })
    await waitFor(() => b.rv.stats().registrations === 1, 5000, 'b registered')
    const record = await a.rv.lookup(b.node.peerId)
    expect(record.addresses).toEqual(b.node.addresses)
    const connection = await a.node.connect({ peerId: b.node.peerId })
    expect(connection.peerId).toBe(b.node.peerId)
    await expect(a.rv.lookup(a.node.peerId)).rejects.toMatchObject({ code: 'ERR_RENDEZVOUS', reason: 'not-found' })
  })

  it('two servers, one stopped: clients still find each other and look peers up through the other', async () => {
    const network = uniqueNetwork()
    const s1 = await startServer(transport, network)
    const s2 = await startServer(transport, network)
    const servers = [s1.contact, s2.contact]
    const a = await startClient(transport, network, { servers, topics: ['t'], autoConnect: false })
    await waitFor(() => a.rv.stats().registrations === 2, 5000, 'a registered with both servers')
    await s1.node.stop()
    const b = await startClient(transport, network, { servers, topics: ['t'] })
    await waitFor(() => connected(a, b.node.peerId) && connected(b, a.node.peerId), 5000, 'a and b connected through s2')
    expect(s2.server.stats().registrations).toBe(2)
    // A lookup answers from the live server.
    const c = await startClient(transport, network, { servers, topics: [], autoConnect: false })
    await waitFor(() => connected(c, s2.node.peerId), 5000, 'c connected to s2')
    await expect(c.node.connect({ peerId: a.node.peerId })).resolves.toMatchObject({ peerId: a.node.peerId })
  })

})

describe('a client keeps its record current (TCP)', () => {
  it('refreshes its record before it expires', async () => {
    const network = uniqueNetwork()
    const { server, contact } = await startServer('tcp', network)
    const a = await startClient('tcp', network, { servers: [contact], topics: ['t'], ttl: 1_500, refreshInterval: 5_000 })
    const b = await startClient('tcp', network, { servers: [contact], topics: [], autoConnect: false })
    await waitFor(() => server.stats().registrations === 1, 5000, 'a registered')
    const first = await b.rv.lookup(a.node.peerId)
    // Past the first record's expiry, the server still holds a (newer) record of a.
    await sleep(2_000)
    const later = await b.rv.lookup(a.node.peerId)
    expect(later.seq).toBeGreaterThan(first.seq)
    expect(later.expires).toBeGreaterThan(Date.now())
    expect(a.rv.stats().recordsSigned).toBeGreaterThanOrEqual(3)
    expect(server.stats().registrations).toBe(1)
  })

  it('re-registers at once when its addresses change', async () => {
    const network = uniqueNetwork()
    const { server, contact } = await startServer('tcp', network)
    let advertise: ((address: string) => void) | undefined
    const announcer: ServiceFactory = (components) => {
      advertise = (address) => components.advertise([{ address, method: 'direct' }])
      return { id: 'announcer', start: async () => {}, stop: async () => {} }
    }
    // Neither a refresh (ttl) nor a discovery round (refreshInterval) comes within the test: only the address check.
    const rv = rendezvous({ servers: [contact], topics: ['t'], ttl: 600_000, refreshInterval: 60_000, addressCheckInterval: 100 })
    const a = await startNode('tcp', { networkName: network, services: [rv, announcer] })
    const b = await startClient('tcp', network, { servers: [contact], topics: [], autoConnect: false })
    await waitFor(() => server.stats().registrations === 1, 5000, 'a registered')
    expect((await b.rv.lookup(a.peerId)).addresses).toEqual(a.addresses)
    // A new address, as a UPnP mapping or a relay reservation would add.
    advertise?.('tcp://127.0.0.1:1')
    await waitFor(() => rv.stats().recordsSigned === 2 && server.stats().requests.register === 2, 2_000, 'a re-registered')
    const moved = await b.rv.lookup(a.peerId)
    expect(moved.addresses).toContain('tcp://127.0.0.1:1')
    expect(moved.addresses).toEqual(a.addresses)
  })

  it('signs whether the node is reachable; of two peers, the unreachable one dials the reachable one', async () => {
    const network = uniqueNetwork()
    const { contact } = await startServer('tcp', network)
    // A holds a port mapping (as a UPnP service would report); B holds none.
    const mapper: ServiceFactory = (components) => ({
      id: 'mapper',
      start: async () => components.reportTraversal({ kind: 'upnp', state: 'mapped', addresses: [], reachable: true }),
      stop: async () => {},
    })
    // A long yield: the side that yields would connect late, so a connection at once is the dial the hints chose.
    const autoConnect = { yieldDelay: 10_000 }
    const rv = rendezvous({ servers: [contact], topics: ['t'], refreshInterval: 300 })
    const a = await startNode('tcp', { networkName: network, services: [mapper, rv], autoConnect })
    const b = await startClient('tcp', network, { servers: [contact], topics: ['t'] }, { autoConnect })
    await waitFor(() => a.getConnection(b.node.peerId) !== undefined && connected(b, a.peerId), 5_000, 'a and b connected before any yield ends')
    expect(b.node.getConnection(a.peerId)?.direction).toBe('outbound')
    expect(a.getConnection(b.node.peerId)?.direction).toBe('inbound')
    expect((await b.rv.lookup(a.peerId)).nat).toMatchObject({ reachable: 'yes', upnp: 'mapped' })
    expect((await rv.lookup(b.node.peerId)).nat).toMatchObject({ reachable: 'no' })
  })
})
