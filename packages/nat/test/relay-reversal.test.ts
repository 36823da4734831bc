import type { ServiceComponents, ServiceConnection, TraversalStatus } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { upgradeOrder } from '../src/relay/reversal.js'
import { Upgrader } from '../src/relay/upgrade.js'
import { pcpReport, stunReport, upnpReport } from '../src/status.js'

const LOW = 'bciqaaaa'
const HIGH = 'bciqzzzz'
const MAPPED = ['tcp://10.0.0.2:4001', 'tcp://203.0.113.7:40001']
const LAN_ONLY = ['tcp://10.0.0.2:4001', 'quic://192.168.1.2:4001', 'tcp://127.0.0.1:4001']

describe('upgradeOrder: which end of a relayed connection tries a direct path first', () => {
  it('an unreachable end reverses at once when the peer claims an address dialable from anywhere', () => {
    expect(upgradeOrder({ ownPeerId: LOW, peerId: HIGH, ownReachable: false, claimed: MAPPED })).toBe('reverse')
    expect(upgradeOrder({ ownPeerId: HIGH, peerId: LOW, ownReachable: false, claimed: MAPPED })).toBe('reverse')
  })

  it('a reachable end lets an unreachable peer go first', () => {
    expect(upgradeOrder({ ownPeerId: HIGH, peerId: LOW, ownReachable: true, claimed: LAN_ONLY })).toBe('second')
  })

  it('no difference (or only private, CGNAT, loopback claims): the higher peer id goes first, as before', () => {
    for (const claimed of [LAN_ONLY, ['tcp://100.64.1.2:1', 'quic://[fe80::1]:1', 'tcp://example.com:1'], []]) {
      expect(upgradeOrder({ ownPeerId: HIGH, peerId: LOW, ownReachable: false, claimed })).toBe('first')
      expect(upgradeOrder({ ownPeerId: LOW, peerId: HIGH, ownReachable: false, claimed })).toBe('second')
    }
    expect(upgradeOrder({ ownPeerId: HIGH, peerId: LOW, ownReachable: true, claimed: MAPPED })).toBe('first')
    expect(upgradeOrder({ ownPeerId: LOW, peerId: HIGH, ownReachable: true, claimed: MAPPED })).toBe('second')
  })

  it('this package says reachable for a held mapping or no NAT, never for a reflexive address behind a NAT', () => {
    const mapping = { protocol: 'tcp' as const, internalPort: 1, externalPort: 2, address: 'tcp://203.0.113.7:2' }
    expect(upnpReport({ state: 'mapped', mappings: [mapping] }).reachable).toBe(true)
    expect(pcpReport({ state: 'mapped', mappings: [mapping], protocol: 'pcp' }).reachable).toBe(true)
    expect(upnpReport({ state: 'mapped', mappings: [] }).reachable).toBeUndefined()
    expect(upnpReport({ state: 'refused', mappings: [] }).reachable).toBeUndefined()
    expect(stunReport('quic://203.0.113.7:1', 'none').reachable).toBe(true)
    expect(stunReport('quic://203.0.113.7:1', 'endpoint-independent').reachable).toBeUndefined()
  })
})

/** An Upgrader over stand-in components: one relayed connection to HIGH that claims `claimed`; dials are recorded, never connect. */
function upgraderWith(claimed: readonly string[], traversal: TraversalStatus = {}) {
  const dials: Array<{ address: string; at: number }> = []
  let traversals = 0
  const relayed = { peerId: HIGH, method: 'relayed' } as unknown as ServiceConnection
  const components = {
    peerId: LOW,
    connection: (peerId: string) => (peerId === HIGH ? relayed : undefined),
    claimedAddresses: () => claimed,
    traversal: () => traversal,
    dial: async (address: string) => {
      dials.push({ address, at: Date.now() })
      await new Promise((resolve) => setTimeout(resolve, 20))
      throw new Error('unreachable')
    },
    traverse: async () => {
      traversals++
      throw new Error('no connector')
    },
  } as unknown as ServiceComponents
  const upgrader = new Upgrader(components, { delay: 400, maxAttempts: 1, multiplier: 1 }, () => {})
  return { upgrader, dials, traversals: () => traversals }
}

describe('relay upgrade: connection reversal', () => {
  it('the unreachable end dials the mapped address at once (only it: no hole punching), then goes on with the series', async () => {
    const { upgrader, dials, traversals } = upgraderWith(MAPPED)
    const start = Date.now()
    upgrader.schedule(HIGH)
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(dials.map((d) => d.address)).toEqual(['tcp://203.0.113.7:40001'])
    expect(Math.max(...dials.map((d) => d.at - start))).toBeLessThan(150)
    expect(traversals()).toBe(0)
    upgrader.stop()
  })

  it('a reversal dials the addresses in turn, the next when one failed: two that both connect would race', async () => {
    const { upgrader, dials } = upgraderWith(['tcp://10.0.0.2:4001', 'tcp://203.0.113.7:40001', 'quic://203.0.113.7:40002'])
    upgrader.schedule(HIGH)
    await new Promise((resolve) => setTimeout(resolve, 200))
    upgrader.stop()
    expect(dials.map((d) => d.address)).toEqual(['tcp://203.0.113.7:40001', 'quic://203.0.113.7:40002'])
    expect((dials[1]?.at ?? 0) - (dials[0]?.at ?? 0)).toBeGreaterThanOrEqual(15) // after the first one failed
  })

  it('the reversal is the first attempt of the bounded series, not one more', async () => {
    const { upgrader, dials, traversals } = upgraderWith(MAPPED)
    upgrader.schedule(HIGH) // maxAttempts 1: the reversal is all
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    upgrader.stop()
    expect(dials).toHaveLength(1)
    expect(traversals()).toBe(0)
  })

  it('the lower id with nothing to reverse to waits its turn (two delays), as before', async () => {
    const { upgrader, dials } = upgraderWith(LAN_ONLY)
    upgrader.schedule(HIGH)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(dials).toEqual([])
    for (const deadline = Date.now() + 3_000; dials.length < 3 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20))
    upgrader.stop()
    expect(dials).toHaveLength(3)
  })

  it('a reachable end does not reverse: the peer will dial it', async () => {
    const mapping = { protocol: 'tcp' as const, internalPort: 1, externalPort: 2, address: 'tcp://203.0.113.9:2' }
    const { upgrader, dials } = upgraderWith(MAPPED, { upnp: upnpReport({ state: 'mapped', mappings: [mapping] }) })
    upgrader.schedule(HIGH)
    await new Promise((resolve) => setTimeout(resolve, 500))
    upgrader.stop()
    expect(dials).toEqual([])
  })
})
