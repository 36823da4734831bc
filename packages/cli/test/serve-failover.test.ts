/**
 * Two `crust serve` nodes (the real binary, separate processes) on loopback,
 * and clients given both: when one serve node dies (SIGKILL, no goodbye),
 * the clients keep working through the other. They register and re-register
 * (a new topic shows up on the survivor), a new client discovers the old
 * ones, looks one up by peer id, and reaches a peer that has no address of
 * its own (role client) through the surviving relay. The survivor's status
 * counts relayed and served bytes per service, never as its own traffic.
 */
import { type CrustNode, createNode } from '@crust/core'
import { type Rendezvous, rendezvous } from '@crust/discovery-rendezvous'
import { relay } from '@crust/nat'
import { tcp } from '@crust/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { StartedNode, tempDir } from './helpers.js'

const LOOPBACK = ['--listen', 'tcp://127.0.0.1:0', '--listen', 'quic://127.0.0.1:0']

interface ServeReady {
  readonly peerId: string
  readonly addresses: string[]
  readonly contact: string
}

interface ServeStatusLine {
  readonly bytesIn: number
  readonly bytesOut: number
  readonly rendezvous: {
    readonly registrations: number
    readonly largestTopics: Array<{ topic: string; registrations: number }>
    readonly requests: number
    readonly bytesIn: number
    readonly bytesOut: number
  }
  readonly relay: { readonly circuits: number; readonly relayedBytes: number }
}

async function serve(): Promise<{ process: StartedNode; ready: ServeReady }> {
  const process = await StartedNode.start([...LOOPBACK, '--data-dir', await tempDir(), '--interval', '500ms', '--no-stun'], 'serve')
  return { process, ready: process.ready as unknown as ServeReady }
}

const nodes: CrustNode[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
})

/** A client of both serve nodes: rendezvous under `topics` (no auto-connect), relay client; `listen: false` makes a node nobody can dial. */
async function client(servers: readonly ServeReady[], topics: string[], listen = true): Promise<{ node: CrustNode; discovery: Rendezvous }> {
  // No auto-connect: the connections the test checks are made by lookup, and only those.
  const discovery = rendezvous({ servers: servers.map((s) => s.contact), topics, refreshInterval: 1_000, autoConnect: false })
  const relays = servers.map((s) => ({ peerId: s.peerId, addresses: s.addresses.filter((a) => a.startsWith('tcp://')) }))
  const node = await createNode({
    networkName: 'crust',
    transports: [tcp({ host: '127.0.0.1' })],
    logLevel: 'silent',
    ...(listen ? { listen: ['tcp://127.0.0.1:0'] } : { role: 'client' as const }),
    services: [discovery, relay({ relays, upgrade: false })],
  })
  nodes.push(node)
  await node.start()
  return { node, discovery }
}

async function until(check: () => boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function lastStatus(server: StartedNode): ServeStatusLine | undefined {
  return server.lines.findLast((l) => l.type === 'status') as ServeStatusLine | undefined
}

describe('crust serve side by side', () => {
  it('clients given two serve nodes keep registering, discovering, looking up and relaying when one dies', async () => {
    const [first, second] = await Promise.all([serve(), serve()])
    const servers = [first.ready, second.ready]
    const a = await client(servers, ['t'])
    // Nobody can dial D: it is reachable only through a relay.
    const d = await client(servers, ['t'], false)
    expect(d.node.addresses).toEqual([])
    await until(() => a.discovery.stats().registrations === 2 && d.discovery.stats().registrations === 2, 'A and D registered with both')
    await until(() => [first, second].every((s) => lastStatus(s.process)?.rendezvous.registrations === 2), 'both servers hold both registrations')

    // The first serve node dies without a word.
    expect(await first.process.stop('SIGKILL')).toBeNull()
    await until(() => a.discovery.stats().registrations === 1, 'A to count its lost registrations')

    // Registering still works: a topic joined now shows up on the survivor.
    a.discovery.join('after')
    await until(() => lastStatus(second.process)?.rendezvous.largestTopics.some((t) => t.topic === 'after') === true, 'the new topic on the survivor')

    // A newcomer given both contacts discovers the old clients through the survivor...
    const c = await client(servers, [])
    const found = new Set<string>()
    c.node.on('peer:discovered', ({ peerId, via }) => {
      if (via === 'rendezvous') found.add(peerId)
    })
    c.discovery.join('t')
    await until(() => found.has(a.node.peerId) && found.has(d.node.peerId), 'C to discover A and D')

    // ...looks A up by peer id...
    const record = await c.discovery.lookup(a.node.peerId)
    expect(record.addresses).toEqual(a.node.addresses)
    const toA = await c.node.connect({ peerId: a.node.peerId })
    expect(toA.remoteAddress).toBe(a.node.addresses[0])

    // ...and reaches D, which has no address, through the surviving relay.
    const toD = await c.node.connect({ peerId: d.node.peerId })
    expect(toD.method).toBe('relayed')
    expect(toD.remoteAddress).toContain(second.ready.peerId)
    d.node.handle((message) => Buffer.from(`echo:${Buffer.from(message.data).toString()}`))
    expect(Buffer.from(await toD.request(Buffer.from('through the survivor'))).toString()).toBe('echo:through the survivor')
    await until(() => (lastStatus(second.process)?.relay.relayedBytes ?? 0) > 0, 'the survivor to count relayed bytes')

    // Its status counts what each service carried for others, and none of it as the node's own traffic:
    // the relay's circuits and the rendezvous requests are protocol streams, not messages to the serve node.
    const status = lastStatus(second.process) as ServeStatusLine
    expect(status.rendezvous.requests).toBeGreaterThan(0)
    expect(status.rendezvous.bytesIn).toBeGreaterThan(0)
    expect(status.rendezvous.bytesOut).toBeGreaterThan(0)
    expect(status.bytesIn).toBe(0)
    expect(status.bytesOut).toBe(0)

    expect(await second.process.stop('SIGTERM')).toBe(0)
  }, 40_000)
})
