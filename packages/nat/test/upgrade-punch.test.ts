import { waitUntil } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { holePunch, relay, relayServer } from '../src/index.js'
import { startNode } from './helpers.js'

describe('relayed connections upgrade by hole punching', () => {
  it('a relayed connection becomes punched once a rendezvous appears; calls keep working throughout', async () => {
    const punch = holePunch({ allowLoopback: true })
    const client = relay({ upgrade: { delay: 300, multiplier: 1.5, maxAttempts: 8 } })
    // Only a relay at first: no rendezvous serves hole punching yet.
    const relayNode = await startNode({ services: [relayServer()] })
    // Both claim only an address where nothing answers, so no direct dial can upgrade the connection.
    const dead = { externalAddresses: ['tcp://127.0.0.1:9'], reachability: { check: 'off' as const } }
    const a = await startNode({ ...dead, services: [punch, client] })
    const b = await startNode({ ...dead, services: [punch, client] })
    b.handle((m) => (m.isRequest ? m.data : undefined))
    for (const node of [a, b]) await node.connect({ peerId: relayNode.peerId, addresses: relayNode.addresses }, { transport: 'quic' })

    const relayed = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(relayed.method).toBe('relayed')

    // A rendezvous both know comes up: the next upgrade attempt punches through.
    const rendezvous = await startNode({ services: [holePunch({ allowLoopback: true })] })
    for (const node of [a, b]) await node.connect({ peerId: rendezvous.peerId, addresses: rendezvous.addresses })
    const answers: Promise<Uint8Array>[] = []
    const calling = setInterval(() => answers.push(relayed.request(Buffer.from('during the switch'))), 20)
    try {
      await waitUntil(() => a.getConnection(b.peerId)?.method === 'punched', 8000, 'a upgrades to a punched connection')
      await waitUntil(() => b.getConnection(a.peerId)?.method === 'punched', 3000, 'b sees the punched connection')
    } finally {
      clearInterval(calling)
    }
    expect(answers.length).toBeGreaterThan(0)
    for (const answer of await Promise.all(answers)) expect(Buffer.from(answer).toString()).toBe('during the switch')
    expect(a.getConnection(b.peerId)?.method).toBe('punched')
  }, 20_000)
})
