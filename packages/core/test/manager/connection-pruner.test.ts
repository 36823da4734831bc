import { describe, expect, it } from 'vitest'
import type { Connection } from '../../src/connection/connection.js'
import { ConnectionPruner, RECENT_USE_MS } from '../../src/manager/connection-pruner.js'

const NOW = 1_000_000

/** The fields the pruner reads, nothing else. */
function conn(
  peerId: string,
  o: { openedAgo?: number; activeAgo?: number; direction?: 'inbound' | 'outbound'; role?: 'node' | 'client' } = {},
): Connection {
  const openedAt = NOW - (o.openedAgo ?? 120_000)
  return {
    peerId,
    openedAt,
    lastActiveAt: o.activeAgo === undefined ? openedAt : NOW - o.activeAgo,
    direction: o.direction ?? 'inbound',
    remoteRole: o.role ?? 'node',
  } as unknown as Connection
}

function pruner(protectedIds: string[] = [], gracePeriod = 10_000): ConnectionPruner {
  return new ConnectionPruner({ gracePeriod, isProtected: (id) => protectedIds.includes(id), now: () => NOW })
}

describe('ConnectionPruner', () => {
  it('picks idle before recently used, inbound before outbound, clients before nodes, then the longest idle', () => {
    const used = conn('used', { activeAgo: 1_000 })
    const outbound = conn('outbound', { direction: 'outbound' })
    const node = conn('node', { activeAgo: RECENT_USE_MS + 5_000 })
    const client = conn('client', { role: 'client', activeAgo: RECENT_USE_MS + 1_000 })
    const all = [used, outbound, node, client]
    const p = pruner()
    const order: string[] = []
    const left = new Set(all)
    for (let victim = p.victim(left); victim !== undefined; victim = p.victim(left)) {
      order.push(victim.peerId)
      left.delete(victim)
    }
    expect(order).toEqual(['client', 'node', 'outbound', 'used'])
  })

  it('among equals, prunes the one idle longest', () => {
    const p = pruner()
    expect(p.victim([conn('a', { activeAgo: 70_000 }), conn('b', { activeAgo: 90_000 }), conn('c', { activeAgo: 80_000 })])?.peerId).toBe('b')
  })

  it('never picks protected peers, connections in their grace period, or the excluded one', () => {
    const p = pruner(['guarded'])
    const fresh = conn('fresh', { openedAgo: 5_000 })
    const guarded = conn('guarded')
    const excluded = conn('excluded')
    expect(p.victim([fresh, guarded, excluded], excluded)).toBeUndefined()
    expect(p.countPrunable([fresh, guarded, excluded])).toBe(1)
    expect(p.prunable(fresh)).toBe(false)
    expect(p.prunable(guarded)).toBe(false)
  })
})
