/**
 * Attack: claim the node role with addresses that belong to someone else, so
 * the victim's reachability check dials them (a reflector aimed at a third
 * party), and repeat it with one identity or many.
 * Defence: dial back only addresses on the IP the peer connected from, once
 * per peer per period, under a node-wide budget.
 */
import { type AddressInfo, createServer, type Server } from 'node:net'
import { createSocket } from 'node:dgram'
import type { CrustNode } from '@crust/core'
import { waitUntil } from '@crust/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { TRANSPORTS, contactOf, startNode } from './nodes.js'

const servers: Array<{ close(): void }> = []
afterEach(() => {
  for (const server of servers.splice(0)) server.close()
})

/** A TCP listener on `host` counting the connections made to it. */
async function countingTcp(host: string): Promise<{ port: number; count: () => number }> {
  let connections = 0
  const server: Server = createServer((socket) => {
    connections++
    socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  servers.push(server)
  return { port: (server.address() as AddressInfo).port, count: () => connections }
}

/** A UDP socket on `host` counting the datagrams sent to it. */
async function countingUdp(host: string): Promise<{ port: number; count: () => number }> {
  let datagrams = 0
  const socket = createSocket('udp4')
  socket.on('message', () => datagrams++)
  await new Promise<void>((resolve) => socket.bind(0, host, resolve))
  servers.push(socket)
  return { port: socket.address().port, count: () => datagrams }
}

/** The outcome of the victim's check of `peerId`. */
function verdictOf(victim: CrustNode, peerId: string): Promise<{ reachable: boolean; error?: Error }> {
  return new Promise((resolve) => {
    const listener = (event: { peerId: string; reachable: boolean; error?: Error }): void => {
      if (event.peerId !== peerId) return
      victim.off('peer:verified', listener)
      resolve(event)
    }
    victim.on('peer:verified', listener)
  })
}

describe.each(TRANSPORTS)('dial-back over %s', (transport) => {
  it('never dials addresses on an IP other than the one the peer connected from', async () => {
    const thirdParty = transport === 'tcp' ? await countingTcp('127.0.0.2') : await countingUdp('127.0.0.2')
    const victim = await startNode(transport)
    const claims = [0, 1, 2].map((i) => `${transport}://127.0.0.2:${thirdParty.port + i}`)
    const attacker = await startNode(transport, { externalAddresses: claims })
    const verdict = verdictOf(victim, attacker.peerId)
    await attacker.connect(contactOf(victim))
    const { reachable, error } = await verdict
    expect(reachable).toBe(false)
    expect(error?.message).toMatch(/no address on 127\.0\.0\.1, the IP it connected from/)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(thirdParty.count()).toBe(0)
  })

  it('still verifies a genuine node at its own address', async () => {
    const victim = await startNode(transport)
    const genuine = await startNode(transport)
    const verdict = verdictOf(victim, genuine.peerId)
    await genuine.connect(contactOf(victim))
    expect((await verdict).reachable).toBe(true)
  })
})

describe('dial-back budgets (tcp)', () => {
  it('checks one peer at most once per period, however often it reconnects', async () => {
    const target = await countingTcp('127.0.0.1')
    const victim = await startNode('tcp')
    const attacker = await startNode('tcp', { externalAddresses: [`tcp://127.0.0.1:${target.port}`], retry: { maxAttempts: 1 } })
    for (let i = 0; i < 10; i++) {
      const verdict = verdictOf(victim, attacker.peerId)
      const connection = await attacker.connect(contactOf(victim))
      expect((await verdict).reachable).toBe(false)
      await connection.close()
      await waitUntil(() => victim.connections.length === 0, 2_000, 'the victim to see the close')
    }
    expect(target.count()).toBe(1)
  })

  it('bounds dial-backs node-wide, whatever the number of identities', async () => {
    const target = await countingTcp('127.0.0.1')
    const victim = await startNode('tcp', { reachability: { maxPerSecond: 2 }, connection: { maxInboundPerIp: 64 } })
    const claim = { externalAddresses: [`tcp://127.0.0.1:${target.port}`], retry: { maxAttempts: 1 } }
    const attackers = await Promise.all(Array.from({ length: 20 }, () => startNode('tcp', claim)))
    const started = performance.now()
    const verdicts = attackers.map((a) => verdictOf(victim, a.peerId))
    await Promise.all(attackers.map((a) => a.connect(contactOf(victim))))
    const outcomes = await Promise.all(verdicts)
    const seconds = (performance.now() - started) / 1000
    expect(outcomes.every((o) => !o.reachable)).toBe(true)
    // Burst of 2 × rate, then the rate: far below one dial per identity.
    expect(target.count()).toBeLessThanOrEqual(4 + Math.ceil(2 * seconds))
    expect(outcomes.filter((o) => /budget/.test(o.error?.message ?? '')).length).toBeGreaterThan(0)
  })
})
