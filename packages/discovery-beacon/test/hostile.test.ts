import { randomBytes } from 'node:crypto'
import type { DiscoveryIdentity } from '@crust/core'
import { describe, expect, it } from 'vitest'
import type { BeaconContent, BeaconType } from '../src/schema.js'
import { encodeBeacon } from '../src/wire.js'
import {
  freeUdpPort,
  hashNetworkName,
  newIdentity,
  rawSocket,
  sendRaw,
  sleep,
  startBeaconNode,
  uniqueNetwork,
  waitFor,
} from './helpers.js'

interface Forge {
  readonly identity?: DiscoveryIdentity
  readonly network?: string
  readonly type?: BeaconType
  readonly timestamp?: number
  readonly nonce?: string
  readonly content?: Partial<BeaconContent>
  readonly sign?: (data: Uint8Array) => Uint8Array
}

/** A beacon as a peer of `network` would send it (or a tampered one). */
function forge(network: string, options: Forge = {}): Uint8Array {
  const identity = options.identity ?? newIdentity()
  return encodeBeacon(
    {
      type: options.type ?? 'announce',
      networkHash: hashNetworkName(options.network ?? network),
      timestamp: options.timestamp ?? Date.now(),
      nonce: options.nonce ?? randomBytes(16).toString('hex'),
      peerId: identity.peerId,
      publicKey: identity.publicKey,
      addresses: ['tcp://127.0.0.1:9'],
      ...options.content,
    },
    options.sign ?? ((data) => identity.sign(data)),
  )
}

async function target(options: Parameters<typeof startBeaconNode>[1] = {}) {
  const port = await freeUdpPort()
  const network = uniqueNetwork()
  // A long interval and no queries: only the test's datagrams arrive.
  const node = await startBeaconNode(network, { port, queries: 0, interval: 60_000, ...options })
  const socket = await rawSocket()
  const send = (datagram: Uint8Array): Promise<void> => sendRaw(socket, datagram, port)
  return { node, port, network, send, stats: () => node.plugin().stats() }
}

describe('hostile and broken beacons are dropped', () => {
  it('accepts a genuine beacon (the baseline the other cases tamper with)', async () => {
    const t = await target()
    const friend = newIdentity()
    await t.send(forge(t.network, { identity: friend }))
    await waitFor(() => t.node.discovered.length === 1, 2000, 'discovery')
    expect(t.node.discovered[0]).toEqual({ peerId: friend.peerId, addresses: ['tcp://127.0.0.1:9'], via: 'beacon' })
  })

  it('drops forged signatures and keys that do not belong to the peer id', async () => {
    const t = await target()
    const friend = newIdentity()
    const evil = newIdentity()
    // Claims to be friend (id and key) but is signed by another key.
    await t.send(forge(t.network, { identity: friend, sign: (data) => evil.sign(data) }))
    // Signed correctly by evil, but claims friend's peer id.
    await t.send(forge(t.network, { identity: evil, content: { peerId: friend.peerId } }))
    // A genuine signature with one bit flipped.
    await t.send(forge(t.network, { identity: friend, sign: (data) => flipBit(friend.sign(data)) }))
    await waitFor(() => t.stats().dropped.signature === 3, 2000, 'three signature drops')
    expect(t.node.discovered).toHaveLength(0)
    expect(t.stats().sizes.replayCache).toBe(0) // forged beacons never reach the replay cache
  })

  it('drops beacons of another network', async () => {
    const t = await target()
    await t.send(forge(t.network, { network: 'someone-else' }))
    await waitFor(() => t.stats().dropped.network === 1, 2000, 'network drop')
    expect(t.node.discovered).toHaveLength(0)
  })

  it('drops a replayed beacon (same nonce) and stale or future timestamps', async () => {
    const t = await target()
    const friend = newIdentity()
    const datagram = forge(t.network, { identity: friend })
    await t.send(datagram)
    await t.send(datagram)
    // Same nonce, new timestamp and signature: still a replay.
    const nonce = randomBytes(16).toString('hex')
    await t.send(forge(t.network, { identity: friend, nonce }))
    await t.send(forge(t.network, { identity: friend, nonce, timestamp: Date.now() + 1 }))
    await t.send(forge(t.network, { identity: newIdentity(), timestamp: Date.now() - 60_000 }))
    await t.send(forge(t.network, { identity: newIdentity(), timestamp: Date.now() + 60_000 }))
    await waitFor(() => t.stats().received === 6, 2000, 'six datagrams')
    expect(t.stats().accepted).toBe(2)
    expect(t.stats().dropped.replay).toBe(2)
    expect(t.stats().dropped.stale).toBe(2)
    expect(t.node.discovered.map((p) => p.peerId)).toEqual([friend.peerId]) // reported once
  })

  it('drops oversized and malformed datagrams without throwing', async () => {
    const t = await target()
    const good = forge(t.network)
    await t.send(Buffer.concat([good, randomBytes(1201 - good.length)])) // valid start, over the limit
    await t.send(randomBytes(5000))
    await t.send(Buffer.alloc(0))
    await t.send(Buffer.from('CRBN'))
    await t.send(good.subarray(0, good.length - 10))
    await t.send(Buffer.concat([good, Buffer.of(0)]))
    await t.send(randomBytes(300))
    await waitFor(() => t.stats().received === 7, 2000, 'seven datagrams')
    expect(t.stats().dropped.oversized).toBe(2)
    expect(t.stats().dropped.malformed).toBe(5)
    expect(t.stats().handlerErrors).toBe(0)
    expect(t.node.discovered).toHaveLength(0)
  })

  it('drops beacons from blacklisted IPs and peers, and its own', async () => {
    const t = await target({ queries: 1 })
    await waitFor(() => t.stats().dropped.self >= 1, 2000, 'own query heard and dropped')
    const friend = newIdentity()
    t.node.node.blacklist.add(friend.peerId)
    await t.send(forge(t.network, { identity: friend }))
    t.node.node.blacklist.add('127.0.0.0/8')
    await t.send(forge(t.network))
    await waitFor(() => t.stats().dropped.blacklisted === 2, 2000, 'two blacklist drops')
    expect(t.node.discovered).toHaveLength(0)
  })

  it('survives a flood of 10,000 junk datagrams with bounded state, and still discovers a genuine peer', async () => {
    const t = await target()
    const flooder = await rawSocket()
    const junk = [randomBytes(1), randomBytes(100), randomBytes(1200), Buffer.concat([Buffer.from('CRBN'), Buffer.of(1), randomBytes(500)])]
    for (let i = 0; i < 10_000; i++) {
      // Every 50th is a genuine, signed beacon of a new identity; the rest is junk.
      const datagram = i % 50 === 0 ? forge(t.network) : (junk[i % junk.length] as Buffer)
      // Yield now and then so the node (same process) reads instead of the kernel dropping.
      if (i % 16 === 15) await sendRaw(flooder, datagram, t.port)
      else flooder.send(datagram, t.port, '127.0.0.1')
    }
    await sleep(300)
    const afterFlood = t.stats()
    expect(afterFlood.received).toBeGreaterThan(9000) // nearly all reached the handler
    expect(afterFlood.dropped['rate-limited']).toBeGreaterThan(afterFlood.received / 2)
    expect(afterFlood.handlerErrors).toBe(0)
    expect(afterFlood.sizes.rateLimiter).toBe(1)
    expect(afterFlood.sizes.replayCache).toBeLessThanOrEqual(200)
    expect(afterFlood.sizes.peers).toBeLessThanOrEqual(200)

    const peer = await startBeaconNode(t.network, { port: t.port })
    await waitFor(
      () => t.node.discovered.some((p) => p.peerId === peer.node.peerId) && peer.discovered.some((p) => p.peerId === t.node.node.peerId),
      3000,
      'discovery after the flood',
    )
  })

  it('keeps every map bounded when flooded with validly signed beacons from many identities', async () => {
    const limits = { perSourceBurst: 100_000, perSourceRate: 100_000, verifyRate: 100_000, replayCacheSize: 50, maxPeers: 20 }
    const t = await target({ limits })
    for (let i = 0; i < 400; i++) await t.send(forge(t.network))
    await waitFor(() => t.stats().received === 400, 5000, 'all datagrams')
    const stats = t.stats()
    expect(stats.accepted).toBe(400)
    expect(stats.sizes.replayCache).toBeLessThanOrEqual(50)
    expect(stats.sizes.peers).toBeLessThanOrEqual(20)
  })

  it('caps signature checks per second across all sources', async () => {
    const t = await target({ limits: { perSourceBurst: 100_000, perSourceRate: 100_000, verifyRate: 5 } })
    const datagrams = Array.from({ length: 40 }, () => forge(t.network))
    const started = Date.now()
    for (const datagram of datagrams) await t.send(datagram)
    await waitFor(() => t.stats().received === 40, 2000, 'all datagrams')
    // A burst of 5, plus 5 per second of sending time.
    const allowed = 5 + Math.ceil(((Date.now() - started) / 1000) * 5)
    const { accepted, dropped } = t.stats()
    expect(accepted).toBeGreaterThanOrEqual(5)
    expect(accepted).toBeLessThanOrEqual(allowed)
    expect(dropped.busy).toBe(40 - accepted)
  })
})

function flipBit(signature: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(signature)
  copy[0] = (copy[0] ?? 0) ^ 1
  return copy
}
