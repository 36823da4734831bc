import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultCachePath } from '@crust/core'
import { hashNetworkName } from '@crust/core/plugin'
import { describe, expect, it } from 'vitest'
import { startNode } from './helpers.js'

/**
 * Bootstrap-cache poisoning against real nodes on loopback: a hostile node
 * claims 32 third-party addresses in its handshake; the cache must hold only
 * the address verified to reach it.
 */

/** Loopback ports with nothing listening: stand-ins for third parties' addresses. */
async function deadPorts(count: number): Promise<number[]> {
  const ports: number[] = []
  for (let i = 0; i < count; i++) {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    ports.push((server.address() as { port: number }).port)
    await new Promise((resolve) => server.close(resolve))
  }
  return ports
}

/** 32 addresses of third parties on other loopback IPs. */
function thirdParties(ports: readonly number[]): string[] {
  return ports.map((port, i) => `tcp://127.0.0.${2 + (i % 16)}:${port}`)
}

function cachedPeers(dir: string): Array<{ peerId: string; addresses: string[] }> {
  const file = JSON.parse(readFileSync(defaultCachePath(hashNetworkName('test-net'), dir), 'utf8')) as {
    peers: Array<{ peerId: string; addresses: string[] }>
  }
  return file.peers
}

describe('the bootstrap cache cannot be poisoned', () => {
  it('a listener claiming 32 third-party addresses: only the address we connected to is cached', async () => {
    const fake = thirdParties(await deadPorts(32))
    // The hostile listener advertises third parties in its WELCOME (externalAddresses replaces its own).
    const hostile = await startNode({ externalAddresses: fake })
    const realAddress = hostile.addresses[0] as string // where it really listens
    const dir = mkdtempSync(join(tmpdir(), 'crust-poison-'))
    const victim = await startNode({ bootstrap: { cacheDir: dir } })
    const connection = await victim.connect({ peerId: hostile.peerId, addresses: [realAddress] })
    expect(connection.remoteRole).toBe('node')
    await victim.stop() // flushes the cache
    const entry = cachedPeers(dir).find((p) => p.peerId === hostile.peerId)
    expect(entry?.addresses).toEqual([realAddress])
  })

  it('a peer that connects to us claiming third-party addresses: only the address that answered the dial-back is cached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-poison-'))
    const victim = await startNode({ bootstrap: { cacheDir: dir } })
    const [ownPort, ...ports] = await deadPorts(32)
    const own = `tcp://127.0.0.1:${ownPort}`
    // Its own address among the first three (the ones a dial-back tries), then 31 third parties.
    const fake = thirdParties(ports)
    const hostile = await startNode({ externalAddresses: [fake[0] as string, own, ...fake.slice(1)], listen: [own] })
    const verified = new Promise<boolean>((resolve) => victim.on('peer:verified', ({ reachable }) => resolve(reachable)))
    await hostile.connect({ peerId: victim.peerId, addresses: victim.addresses })
    expect(await verified).toBe(true)
    await victim.stop()
    const entry = cachedPeers(dir).find((p) => p.peerId === hostile.peerId)
    expect(entry?.addresses).toEqual([own])
  })

  it('one host cannot fill the cache with identities: at most 4 nodes per IP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-poison-'))
    const victim = await startNode({ bootstrap: { cacheDir: dir } })
    const sybils = await Promise.all(Array.from({ length: 8 }, () => startNode()))
    for (const sybil of sybils) await victim.connect({ peerId: sybil.peerId, addresses: sybil.addresses })
    await victim.stop()
    const cached = cachedPeers(dir).map((p) => p.peerId)
    expect(cached).toHaveLength(4)
    expect(cached.sort()).toEqual(sybils.slice(4).map((s) => s.peerId).sort()) // the most recent four
  })
})

