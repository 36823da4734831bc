import { describe, expect, it } from 'vitest'
import { dialOrder, isReachable } from '../../src/discovery/dial-order.js'
import type { DiscoveryComponents, DiscoveryFactory } from '../../src/discovery/types.js'
import type { CrustNode } from '../../src/node.js'
import type { ServiceComponents, ServiceFactory } from '../../src/service/types.js'
import { Net, waitFor } from '../policy/helpers.js'

const LOW = 'bciqaaaa'
const HIGH = 'bciqzzzz'

describe('dialOrder: who dials first of two peers that discovered each other', () => {
  it('the unreachable side dials a reachable peer at once, whatever the ids', () => {
    expect(dialOrder({ ownPeerId: HIGH, peerId: LOW, ownReachable: false, peerReachable: true })).toBe('dial')
    expect(dialOrder({ ownPeerId: LOW, peerId: HIGH, ownReachable: false, peerReachable: true })).toBe('dial')
  })

  it('the reachable side yields to an unreachable peer, whatever the ids', () => {
    expect(dialOrder({ ownPeerId: LOW, peerId: HIGH, ownReachable: true, peerReachable: false })).toBe('yield')
    expect(dialOrder({ ownPeerId: HIGH, peerId: LOW, ownReachable: true, peerReachable: false })).toBe('yield')
  })

  it('both, neither or unknown: the lower peer id dials, the higher one yields', () => {
    for (const [ownReachable, peerReachable] of [
      [true, true],
      [false, false],
      [true, undefined],
      [false, undefined],
    ] as const) {
      expect(dialOrder({ ownPeerId: LOW, peerId: HIGH, ownReachable, peerReachable })).toBe('dial')
      expect(dialOrder({ ownPeerId: HIGH, peerId: LOW, ownReachable, peerReachable })).toBe('yield')
    }
  })

  it('exactly one side of a pair dials first in every case', () => {
    for (const a of [true, false])
      for (const b of [true, false]) {
        const low = dialOrder({ ownPeerId: LOW, peerId: HIGH, ownReachable: a, peerReachable: b })
        const high = dialOrder({ ownPeerId: HIGH, peerId: LOW, ownReachable: b, peerReachable: a })
        expect([low, high].filter((order) => order === 'dial')).toHaveLength(1)
      }
  })

  it('a node is reachable when some traversal report says so', () => {
    expect(isReachable({})).toBe(false)
    expect(isReachable({ stun: { kind: 'stun', state: 'endpoint-dependent' }, upnp: { kind: 'upnp', state: 'refused' } })).toBe(false)
    expect(isReachable({ stun: { kind: 'stun', state: 'endpoint-dependent' }, upnp: { kind: 'upnp', state: 'mapped', reachable: true } })).toBe(true)
  })
})

/** A discovery plugin the test drives: it reports what the test tells it to. */
function finder(): { factory: DiscoveryFactory; connect: (peer: { peerId: string; addresses: string[]; reachable?: boolean }) => Promise<void> } {
  let components: DiscoveryComponents | undefined
  return {
    factory: (c) => {
      components = c
      return { id: 'finder', start: async () => {}, stop: async () => {} }
    },
    connect: (peer) => (components as DiscoveryComponents).connect({ ...peer, via: 'finder' }),
  }
}

/** A service that says, when told, that the node holds a port mapping. */
function mapper(): { factory: ServiceFactory; mapped: () => void } {
  let components: ServiceComponents | undefined
  return {
    factory: (c) => {
      components = c
      return { id: 'mapper', start: async () => {}, stop: async () => {} }
    },
    mapped: () => (components as ServiceComponents).reportTraversal({ kind: 'upnp', state: 'mapped', addresses: [], reachable: true }),
  }
}

describe('auto-connect: the side that can reach the other dials', () => {
  const net = new Net()
  /** Two nodes with a long yield (a yield shows as a connection this late); `lowReachable`: the lower id holds a mapping. */
  async function pair(lowReachable: boolean): Promise<{ low: CrustNode; high: CrustNode; opened: number }> {
    const parts = [0, 1].map(() => ({ finder: finder(), mapper: mapper() }))
    const nodes = await Promise.all(
      parts.map((p) => net.node({ discovery: [p.finder.factory], services: [p.mapper.factory], autoConnect: { yieldDelay: 5_000 } })),
    )
    const [a, b] = nodes as [CrustNode, CrustNode]
    const [lowIndex, highIndex] = a.peerId < b.peerId ? [0, 1] : [1, 0]
    const low = nodes[lowIndex] as CrustNode
    const high = nodes[highIndex] as CrustNode
    if (lowReachable) parts[lowIndex]?.mapper.mapped()
    const started = Date.now()
    // Both discover each other at once, each with the other's hint (what its signed record would say).
    void parts[lowIndex]?.finder.connect({ peerId: high.peerId, addresses: [...high.addresses], reachable: false })
    void parts[highIndex]?.finder.connect({ peerId: low.peerId, addresses: [...low.addresses], reachable: lowReachable })
    await waitFor(() => low.connections.length === 1 && high.connections.length === 1, 3_000, 'connected')
    return { low, high, opened: Date.now() - started }
  }

  it('a reachable lower id yields: the unreachable higher id dials it at once', async () => {
    const { low, high, opened } = await pair(true)
    expect(high.connections[0]?.direction).toBe('outbound')
    expect(low.connections[0]?.direction).toBe('inbound')
    expect(opened).toBeLessThan(3_000) // well before the 5 s yield
  })

  it('neither reachable: the lower id dials, as before', async () => {
    const { low, high } = await pair(false)
    expect(low.connections[0]?.direction).toBe('outbound')
    expect(high.connections[0]?.direction).toBe('inbound')
  })
})
