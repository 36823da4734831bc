import { networkInterfaces } from 'node:os'
import { describe, expect, it } from 'vitest'
import { beacon } from '../src/index.js'
import { type BeaconNode, freeUdpPort, sleep, startBeaconNode, uniqueNetwork, waitFor } from './helpers.js'

/** True when every node reported every other one via the beacon. */
function allDiscovered(nodes: readonly BeaconNode[]): boolean {
  return nodes.every((a) =>
    nodes.every((b) => a === b || a.discovered.some((p) => p.peerId === b.node.peerId && p.via === 'beacon')),
  )
}

describe('beacon discovery on one host (loopback only)', () => {
  it('two nodes discover each other within 2 s and connect with autoConnect', async () => {
    const port = await freeUdpPort()
    const network = uniqueNetwork()
    const a = await startBeaconNode(network, { port, autoConnect: true })
    const b = await startBeaconNode(network, { port, autoConnect: true })
    const started = Date.now()
    await waitFor(() => allDiscovered([a, b]), 2000, 'discovery')
    const found = a.discovered.find((p) => p.peerId === b.node.peerId)
    expect(found?.addresses).toEqual(b.node.addresses)
    await waitFor(() => a.node.connections.length === 1 && b.node.connections.length === 1, 2000 - (Date.now() - started), 'connections')
    expect(a.node.connections[0]?.peerId).toBe(b.node.peerId)
    expect(b.node.connections[0]?.peerId).toBe(a.node.peerId)
    for (const n of [a, b]) expect(n.plugin().stats().handlerErrors).toBe(0)
    // Loopback mode: only the loopback interface, only multicast and 127.255.255.255.
    const loopbackNames = Object.entries(networkInterfaces())
      .filter(([, entries]) => entries?.every((e) => e.internal))
      .map(([name]) => name)
    expect(a.plugin().targets().length).toBeGreaterThan(0)
    for (const target of a.plugin().targets()) {
      expect(loopbackNames).toContain(target.interfaceName)
      expect(target.family).toBe(4)
      expect([...target.destinations].sort()).toEqual(['127.255.255.255', '239.255.84.84'])
    }
  })

  it('five nodes discover each other within 2 s and all connect with autoConnect', async () => {
    const port = await freeUdpPort()
    const network = uniqueNetwork()
    const nodes = await Promise.all(Array.from({ length: 5 }, () => startBeaconNode(network, { port, autoConnect: true })))
    await waitFor(() => allDiscovered(nodes), 2000, 'discovery of all five')
    await waitFor(() => nodes.every((n) => n.node.connections.length === 4), 2000, 'a full mesh of connections')
    for (const n of nodes) {
      const peers = new Set(n.node.connections.map((c) => c.peerId))
      expect(peers.size).toBe(4)
      expect(peers.has(n.node.peerId)).toBe(false)
      expect(n.plugin().stats().dropped.signature).toBe(0)
    }
  })

  it('without autoConnect, nodes emit peer:discovered but do not connect', async () => {
    const port = await freeUdpPort()
    const network = uniqueNetwork()
    const nodes = await Promise.all(Array.from({ length: 3 }, () => startBeaconNode(network, { port })))
    await waitFor(() => allDiscovered(nodes), 2000, 'discovery')
    await sleep(500)
    for (const n of nodes) expect(n.node.connections).toHaveLength(0)
  })

  it('a node started later is found through its query and the answers to it', async () => {
    const port = await freeUdpPort()
    const network = uniqueNetwork()
    // A long interval: only the start queries and their answers can do the work.
    const early = await startBeaconNode(network, { port, interval: 60_000 })
    await sleep(700) // the early node's own queries are over
    const late = await startBeaconNode(network, { port, interval: 60_000 })
    await waitFor(() => allDiscovered([early, late]), 2000, 'query/answer discovery')
    expect(early.plugin().stats().answered).toBeGreaterThanOrEqual(1)
  })

  it('periodic announcements alone find peers (no start queries)', async () => {
    const port = await freeUdpPort()
    const network = uniqueNetwork()
    const a = await startBeaconNode(network, { port, queries: 0, interval: 300 })
    const b = await startBeaconNode(network, { port, queries: 0, interval: 300 })
    await waitFor(() => allDiscovered([a, b]), 2000, 'discovery by announcements')
    expect(a.plugin().stats().answered + b.plugin().stats().answered).toBe(0)
  })

  it('nodes of another network are never reported', async () => {
    const port = await freeUdpPort()
    const a = await startBeaconNode(uniqueNetwork(), { port, interval: 200 })
    const b = await startBeaconNode(uniqueNetwork(), { port, interval: 200 })
    await waitFor(() => a.plugin().stats().dropped.network > 0 && b.plugin().stats().dropped.network > 0, 2000, 'beacons heard')
    expect(a.discovered).toHaveLength(0)
    expect(b.discovered).toHaveLength(0)
  })

  it('ignores blacklisted peers', async () => {
    const port = await freeUdpPort()
    const network = uniqueNetwork()
    const a = await startBeaconNode(network, { port, interval: 200, autoConnect: true })
    const b = await startBeaconNode(network, { port, interval: 200, autoConnect: true })
    await waitFor(() => allDiscovered([a, b]), 2000, 'discovery')
    a.node.blacklist.add(b.node.peerId)
    const before = a.discovered.length
    await waitFor(() => a.plugin().stats().dropped.blacklisted >= 2, 3000, 'blacklisted beacons dropped')
    expect(a.discovered).toHaveLength(before)
    expect(a.node.connections).toHaveLength(0)
  })

  it('stops cleanly: no sockets or timers left, and the port is free for a new node', async () => {
    const port = await freeUdpPort()
    const network = uniqueNetwork()
    const a = await startBeaconNode(network, { port, interval: 200 })
    const plugin = a.plugin()
    expect(plugin.stats().sizes.sockets).toBeGreaterThanOrEqual(2) // listener + loopback sender
    expect(plugin.stats().sizes.timers).toBeGreaterThanOrEqual(1)
    await a.node.stop()
    const after = plugin.stats()
    expect(after.sizes).toEqual({ rateLimiter: 0, replayCache: 0, peers: 0, answerLimiter: 0, peerLimiter: 0, sockets: 0, timers: 0 })
    const received = after.received
    await sleep(500)
    expect(plugin.stats().received).toBe(received)
    // Without SO_REUSEADDR the port can only be bound if the old socket really closed.
    const b = await startBeaconNode(network, { port, reuseAddr: false })
    expect(b.plugin().stats().sizes.sockets).toBeGreaterThanOrEqual(2)
  })

  it('rejects bad options with a ConfigError naming the field', () => {
    expect(() => beacon({ port: 70_000 })).toThrow(/beacon\.port/)
    expect(() => beacon({ multicastGroup: '10.0.0.1' })).toThrow(/beacon\.multicastGroup/)
    expect(() => beacon({ targets: [] })).toThrow(/beacon\.targets/)
    expect(() => beacon({ jitter: 2 })).toThrow(/beacon\.jitter/)
  })
})
