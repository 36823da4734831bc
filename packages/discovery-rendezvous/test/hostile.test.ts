import { type Server, type Socket, createServer } from 'node:net'
import type { Service, ServiceComponents, ServiceFactory } from '@crust/core'
import { afterEach, describe, expect, it } from 'vitest'
import { RENDEZVOUS_PROTOCOL, type SignedRecord, signRecord } from '../src/index.js'
import { type Answer, type Request, frameBytes, readAnswer, readRequest, writeFrame } from '../src/protocol.js'
import type { RecordFields } from '../src/record.js'
import { contactOf, hashNetworkName, newIdentity, sleep, startClient, startNode, startServer, uniqueNetwork, waitFor } from './helpers.js'

/** A service that only hands its components to the test: to sign and send raw requests as the node. */
function probe(): { factory: ServiceFactory; components: () => ServiceComponents } {
  let captured: ServiceComponents | undefined
  const factory: ServiceFactory = (components) => {
    captured = components
    return { id: 'probe', start: async () => {}, stop: async () => {} }
  }
  return {
    factory,
    components: () => {
      if (captured === undefined) throw new Error('probe not started')
      return captured
    },
  }
}

/** One raw request to `serverPeerId` over the pooled connection. */
async function ask(components: ServiceComponents, serverPeerId: string, frame: Request): Promise<Exclude<Answer, { type: 'error' }>> {
  const connection = components.connection(serverPeerId)
  if (connection === undefined) throw new Error('not connected to the server')
  const stream = await connection.openProtocolStream(RENDEZVOUS_PROTOCOL)
  await writeFrame(stream, frame, true)
  return readAnswer(stream, 2_000)
}

function ownRecord(components: ServiceComponents, over: Partial<RecordFields> = {}): SignedRecord {
  const identity = components.identity
  if (identity === undefined) throw new Error('no identity')
  return signRecord(identity, { network: components.networkHash, addresses: components.addresses(), nat: {}, seq: Date.now(), expires: Date.now() + 60_000, ...over })
}

/** A TCP listener that counts the connections made to it (nothing else answers there). */
const listeners: Server[] = []
async function countingListener(): Promise<{ address: string; count: () => number }> {
  let count = 0
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    count++
    sockets.push(socket)
    socket.on('error', () => {})
    socket.destroy()
  })
  listeners.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { address: `tcp://127.0.0.1:${port}`, count: () => count }
}
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

/** A server that lies: answers DISCOVER with `records` and LOOKUP with `lookups`, registers anything. */
function liar(records: () => unknown[], lookups: (peerId: string) => unknown): ServiceFactory {
  return (components): Service => {
    let off: (() => void) | undefined
    return {
      id: 'liar',
      start: async () => {
        off = components.handleProtocol(RENDEZVOUS_PROTOCOL, (stream) => {
          void (async () => {
            const { frame } = await readRequest(stream, 2_000)
            const answer: Answer =
              frame.type === 'discover'
                ? { type: 'peers', records: records(), more: false }
                : frame.type === 'lookup'
                  ? lookups(frame.peerId) === undefined
                    ? { type: 'error', reason: 'not-found', message: 'no' }
                    : { type: 'record', record: lookups(frame.peerId) }
                  : frame.type === 'register'
                    ? { type: 'registered', ttl: frame.ttl }
                    : { type: 'unregistered' }
            await writeFrame(stream, answer, true)
          })().catch(() => stream.reset())
        })
      },
      stop: async () => off?.(),
    }
  }
}

describe('rendezvous server bounds over real connections (TCP)', () => {
  it('refuses registrations beyond its bounds, foreign, stale and forged records with typed errors', async () => {
    const network = uniqueNetwork()
    const { node: serverNode } = await startServer('tcp', network, { maxRegistrationsPerPeer: 2, maxRegistrationsPerTopic: 2 })
    const probes = [probe(), probe(), probe()]
    const nodes = await Promise.all(probes.map((p) => startNode('tcp', { networkName: network, services: [p.factory] })))
    for (const node of nodes) await node.connect({ peerId: serverNode.peerId, addresses: serverNode.addresses })
    const [a, b, c] = probes.map((p) => p.components()) as [ServiceComponents, ServiceComponents, ServiceComponents]
    const record = ownRecord(a)
    const register = (components: ServiceComponents, topic: string, signed: SignedRecord): Promise<unknown> =>
      ask(components, serverNode.peerId, { type: 'register', topic, record: signed, ttl: 30_000 })

    await expect(register(a, 'x', record)).resolves.toMatchObject({ type: 'registered' })
    await expect(register(a, 'y', record)).resolves.toMatchObject({ type: 'registered' })
    await expect(register(a, 'z', record)).rejects.toMatchObject({ code: 'ERR_RENDEZVOUS', reason: 'too-many-registrations' })
    await expect(register(b, 'x', ownRecord(b))).resolves.toMatchObject({ type: 'registered' })
    await expect(register(c, 'x', ownRecord(c))).rejects.toMatchObject({ reason: 'topic-full' })
    // Only a peer's own record: c cannot register a's.
    await expect(register(c, 'w', record)).rejects.toMatchObject({ reason: 'wrong-peer' })
    // An older record of a after a newer one: a replay.
    await expect(register(a, 'x', ownRecord(a, { seq: 1 }))).rejects.toMatchObject({ reason: 'stale-record' })
    // A record claiming c's peer id signed with another key.
    const forged = signRecord({ ...newIdentity(), peerId: c.peerId }, { network: c.networkHash, addresses: [], nat: {}, seq: 1, expires: Date.now() + 10_000 })
    await expect(register(c, 'w', forged)).rejects.toMatchObject({ reason: 'invalid-record' })
  })

  it('answers are never larger than 8 times the request: an unpadded DISCOVER gets no record, a padded one gets them', async () => {
    const network = uniqueNetwork()
    const { node: serverNode } = await startServer('tcp', network)
    const probes = [probe(), probe()]
    const nodes = await Promise.all(probes.map((p) => startNode('tcp', { networkName: network, services: [p.factory] })))
    for (const node of nodes) await node.connect({ peerId: serverNode.peerId, addresses: serverNode.addresses })
    const [a, b] = probes.map((p) => p.components()) as [ServiceComponents, ServiceComponents]
    for (const components of [a, b]) await ask(components, serverNode.peerId, { type: 'register', topic: 't', record: ownRecord(components), ttl: 30_000 })
    const bare: Request = { type: 'discover', topic: 't', limit: 100 }
    const small = await ask(a, serverNode.peerId, bare)
    expect(frameBytes(small)).toBeLessThanOrEqual(8 * frameBytes(bare))
    expect(small).toMatchObject({ type: 'peers', records: [], more: true })
    const padded: Request = { ...bare, pad: ' '.repeat(1_000) }
    const full = await ask(a, serverNode.peerId, padded)
    expect(full).toMatchObject({ type: 'peers', more: false })
    expect(full.type === 'peers' && full.records).toHaveLength(2)
    expect(frameBytes(full)).toBeLessThanOrEqual(8 * frameBytes(padded))
    const lookup: Request = { type: 'lookup', peerId: b.peerId }
    const record = await ask(a, serverNode.peerId, lookup)
    expect(record).toMatchObject({ type: 'record' })
    expect(frameBytes(record)).toBeLessThanOrEqual(8 * frameBytes(lookup))
  })

  it('rate limits each peer', async () => {
    const network = uniqueNetwork()
    const { node: serverNode } = await startServer('tcp', network, { ratePerSecond: 0.5, burst: 3 })
    const p = probe()
    const node = await startNode('tcp', { networkName: network, services: [p.factory] })
    await node.connect({ peerId: serverNode.peerId, addresses: serverNode.addresses })
    const discover: Request = { type: 'discover', topic: 't', limit: 1 }
    for (let i = 0; i < 3; i++) await expect(ask(p.components(), serverNode.peerId, discover)).resolves.toMatchObject({ type: 'peers' })
    await expect(ask(p.components(), serverNode.peerId, discover)).rejects.toMatchObject({ reason: 'rate-limited' })
  })

  it('a client walks every page: 6 peers in pages of 2', async () => {
    const network = uniqueNetwork()
    const { contact } = await startServer('tcp', network)
    const registrants = await Promise.all(Array.from({ length: 6 }, () => startClient('tcp', network, { servers: [contact], topics: ['t'], autoConnect: false })))
    await waitFor(() => registrants.every((r) => r.rv.stats().registrations === 1), 5000, 'all registered')
    const observer = await startClient('tcp', network, { servers: [contact], topics: ['t'], autoConnect: false, pageSize: 2 })
    await waitFor(() => new Set(observer.discovered.map((p) => p.peerId)).size === 6, 5000, 'observer finds all 6')
  })
})

describe('a lying rendezvous server cannot make a client dial an address the peer did not sign (TCP)', () => {
  it('forged, altered, expired, replayed and other-network records are dropped, counted and never dialled', async () => {
    const network = uniqueNetwork()
    const networkHash = hashNetworkName(network)
    const honeypot = await countingListener()
    const good = await countingListener()
    const fields = (over: Partial<RecordFields> = {}): RecordFields => ({
      network: networkHash,
      addresses: [honeypot.address],
      nat: {},
      seq: 5,
      expires: Date.now() + 60_000,
      ...over,
    })
    const victim = newIdentity()
    const forged = signRecord({ ...newIdentity(), peerId: victim.peerId }, fields())
    const honest = signRecord(newIdentity(), fields({ addresses: ['tcp://127.0.0.1:1'] }))
    const payload = JSON.parse(Buffer.from(honest.payload, 'base64').toString('utf8')) as { addresses: string[] }
    payload.addresses = [honeypot.address]
    const altered = { ...honest, payload: Buffer.from(JSON.stringify(payload)).toString('base64') }
    const expired = signRecord(newIdentity(), fields({ expires: Date.now() - 1_000 }))
    const otherNetwork = signRecord(newIdentity(), fields({ network: hashNetworkName('elsewhere') }))
    const moved = newIdentity()
    const current = signRecord(moved, fields({ seq: 10, addresses: [good.address] }))
    const replayed = signRecord(moved, fields({ seq: 5 }))
    const wrongPeer = signRecord(newIdentity(), fields())
    const lookups = new Map<string, unknown>([
      [victim.peerId, wrongPeer], // the record of someone else
      [moved.peerId, replayed], // a stale record
    ])
    const liarNode = await startNode('tcp', {
      networkName: network,
      services: [liar(() => [forged, altered, expired, otherNetwork, current, replayed, 'junk'], (peerId) => lookups.get(peerId))],
    })
    const client = await startClient('tcp', network, { servers: [contactOf(liarNode)], topics: ['t'] })
    await waitFor(() => client.rv.stats().rejected.replayed >= 1 && good.count() >= 1, 5000, 'the rounds ran and the honest record was dialled')
    // Each DISCOVER round drops the same ones: two bad signatures (forged, altered) per expired one, and so on.
    const { rejected } = client.rv.stats()
    expect(rejected.expired).toBeGreaterThanOrEqual(1)
    expect(rejected).toMatchObject({ signature: 2 * rejected.expired, network: rejected.expired, malformed: rejected.expired })
    expect(rejected.replayed).toBeGreaterThanOrEqual(1)
    expect(client.discovered.map((p) => [p.peerId, p.addresses])).toEqual([[moved.peerId, [good.address]]])

    // Lookups: a record of another peer, and a stale record of a peer whose newer one the client holds.
    await expect(client.node.connect({ peerId: victim.peerId }, { retry: false })).rejects.toThrow()
    expect(client.rv.stats().rejected['wrong-peer']).toBeGreaterThanOrEqual(1)
    await expect(client.rv.lookup(moved.peerId)).resolves.toMatchObject({ seq: 10, addresses: [good.address] })
    await sleep(300)
    expect(honeypot.count()).toBe(0)
  })
})
