import { randomBytes } from 'node:crypto'
import { type Server, createServer } from 'node:net'
import type { DiscoveryIdentity } from '@crust/core'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeBeacon } from '../src/wire.js'
import { freeUdpPort, hashNetworkName, newIdentity, rawSocket, sendRaw, sleep, startBeaconNode, uniqueNetwork, waitFor } from './helpers.js'

/**
 * The beacon amplifier: a validly signed beacon from a throw-away identity
 * lists addresses of a third party (here: TCP listeners on other 127.0.0.x
 * addresses, counting every connection made to them). The node must dial
 * none of them, and the dials a flood of identities can trigger are bounded.
 */

const servers: Server[] = []

/** A TCP listener that counts and drops every connection, standing in for a third party. */
async function victim(host: string): Promise<{ readonly address: string; readonly hits: () => number }> {
  let hits = 0
  const server = createServer((socket) => {
    hits++
    socket.destroy()
  })
  servers.push(server)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  const { port } = server.address() as { port: number }
  return { address: `tcp://${host}:${port}`, hits: () => hits }
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

function forge(network: string, identity: DiscoveryIdentity, addresses: readonly string[]): Uint8Array {
  return encodeBeacon(
    {
      type: 'announce',
      networkHash: hashNetworkName(network),
      timestamp: Date.now(),
      nonce: randomBytes(16).toString('hex'),
      peerId: identity.peerId,
      publicKey: identity.publicKey,
      addresses: [...addresses],
    },
    (data) => identity.sign(data),
    1472,
  )
}

async function setup(beaconOptions: Parameters<typeof startBeaconNode>[1] = {}, config: Parameters<typeof startBeaconNode>[2] = {}) {
  const port = await freeUdpPort()
  const network = uniqueNetwork()
  const target = await startBeaconNode(network, { port, queries: 0, interval: 60_000, autoConnect: true, ...beaconOptions }, config)
  const socket = await rawSocket() // bound to 127.0.0.1: the beacon's source IP
  return { port, network, target, send: (datagram: Uint8Array) => sendRaw(socket, datagram, port) }
}

describe('a beacon cannot aim the node at third parties', () => {
  it('a validly signed beacon listing 32 third-party addresses leads to no dial at all', async () => {
    const victims = await Promise.all(Array.from({ length: 32 }, (_, i) => victim(`127.0.0.${2 + (i % 8)}`)))
    const t = await setup({ limits: { addressesPerBeacon: 32 } })
    const throwaway = newIdentity()
    await t.send(forge(t.network, throwaway, victims.map((v) => v.address)))
    await waitFor(() => t.target.plugin().stats().accepted === 1, 2000, 'beacon accepted')
    await sleep(1000)
    expect(victims.reduce((sum, v) => sum + v.hits(), 0)).toBe(0)
    // Nothing on the source IP was listed: nothing to report or dial.
    expect(t.target.discovered).toHaveLength(0)
  })

  it('20 beacons from 20 identities on one source: at most one dial per beacon, and few new peers per source', async () => {
    const listeners = await Promise.all(Array.from({ length: 32 }, () => victim('127.0.0.1')))
    const t = await setup()
    for (let i = 0; i < 20; i++) await t.send(forge(t.network, newIdentity(), listeners.map((v) => v.address)))
    await waitFor(() => t.target.plugin().stats().accepted === 20, 3000, '20 beacons accepted')
    await sleep(1000)
    const dials = listeners.reduce((sum, v) => sum + v.hits(), 0)
    // Per beacon: one address per transport (all TCP here); per source IP: a burst of 8 new peers.
    expect(dials).toBeGreaterThan(0)
    expect(dials).toBeLessThanOrEqual(8)
    expect(t.target.plugin().stats().dropped['peer-rate']).toBe(12)
  })

  it('every auto-connect, whatever the plugin allows, shares the node-wide dial budget', async () => {
    const listeners = await Promise.all(Array.from({ length: 32 }, () => victim('127.0.0.1')))
    // The beacon's own limits opened wide: only the core's budget (burst 5, 1/s) is left.
    const t = await setup(
      { limits: { addressesPerBeacon: 2, newPeersPerSourceBurst: 1000 } },
      { autoConnect: { burst: 5, rate: 1 } },
    )
    const started = Date.now()
    for (let i = 0; i < 20; i++) await t.send(forge(t.network, newIdentity(), listeners.map((v) => v.address)))
    await waitFor(() => t.target.plugin().stats().accepted === 20, 3000, '20 beacons accepted')
    await sleep(1000)
    const elapsed = (Date.now() - started) / 1000
    const dials = listeners.reduce((sum, v) => sum + v.hits(), 0)
    expect(dials).toBeGreaterThan(0)
    expect(dials).toBeLessThanOrEqual(5 + Math.ceil(elapsed * 1))
  })

  it('a genuine peer still connects, also right after a flood of identities', async () => {
    const listeners = await Promise.all(Array.from({ length: 4 }, () => victim('127.0.0.1')))
    const t = await setup({ interval: 500 })
    for (let i = 0; i < 20; i++) await t.send(forge(t.network, newIdentity(), listeners.map((v) => v.address)))
    const genuine = await startBeaconNode(t.network, { port: t.port, autoConnect: true, interval: 500 })
    await waitFor(
      () => t.target.node.connections.some((c) => c.peerId === genuine.node.peerId),
      8000,
      'the genuine peer connected',
    )
  })
})
