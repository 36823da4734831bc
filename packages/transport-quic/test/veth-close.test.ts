/**
 * Closes over a real, non-loopback path: a veth pair into a network
 * namespace where the peer node runs (lab/veth.ts), with a user-space delay
 * where quiche's timers must see a real round-trip time. On 127.0.0.1 the
 * draining period (3 PTO) is a few ms and hides what is tested here. Needs
 * root; skips loudly without it.
 */
import type { CrustNode } from '@crust/core'
import { createTestNode, stopTestNodes } from '@crust/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'
import { DelayRelay } from './lab/delay-relay.js'
import { type LabPeer, VethPath, announceVethSkip, vethUnsupported } from './lab/veth.js'

const unsupported = vethUnsupported()
if (unsupported) announceVethSkip('QUIC close tests over a veth pair', unsupported)

/** Resolve with the ms from now until `node` drops its connection to `peerId`. */
function whenDropped(node: CrustNode, peerId: string): Promise<number> {
  const started = performance.now()
  return new Promise((resolve) => {
    const listener = (event: { peerId: string }): void => {
      if (event.peerId !== peerId) return
      node.off('connection:close', listener)
      resolve(performance.now() - started)
    }
    node.on('connection:close', listener)
  })
}

describe.skipIf(unsupported !== undefined)('QUIC close over a veth path', () => {
  let path: VethPath
  const relays: DelayRelay[] = []
  beforeAll(() => {
    path = VethPath.create(1500)
  })
  afterAll(() => path?.destroy())
  afterEach(async () => {
    await stopTestNodes()
    await Promise.all(relays.splice(0).map((relay) => relay.close()))
  })

  async function delayedPair(delay: number): Promise<{ node: CrustNode; peer: LabPeer; relay: DelayRelay }> {
    const peer = await path.startPeer({})
    const node = await createTestNode([quic({ host: path.hostIp })], { listen: [`quic://${path.hostIp}:0`] })
    const port = Number(new URL(peer.addresses[0]!.replace('quic://', 'http://')).port)
    const relay = await DelayRelay.start(path.hostIp, { host: path.peerIp, port }, delay)
    relays.push(relay)
    await node.connect({ peerId: peer.peerId, addresses: [relay.address] }, { retry: false })
    return { node, peer, relay }
  }

  it('a connection the peer closed leaves the pool once the close arrives, not after the draining period; stop() is quick', async () => {
    // 150 ms each way: quiche's PTO is then ~1 s, its draining period (3 PTO) seconds.
    const { node, peer, relay } = await delayedPair(150)
    const first = node.getConnection(peer.peerId)!
    expect(new TextDecoder().decode(await first.request(new Uint8Array(0)))).toBe('answer')
    // Everything acknowledged: the peer's graceful close has nothing to flush and is sent at once.
    await new Promise((resolve) => setTimeout(resolve, 4 * relay.delay))
    const dropped = whenDropped(node, peer.peerId)
    void peer.call('close', { peerId: node.peerId })
    const linger = await dropped
    const again = performance.now()
    const second = await node.connect({ peerId: peer.peerId, addresses: [relay.address] }, { retry: false })
    const reconnect = performance.now() - again
    expect(second).not.toBe(first)
    expect(new TextDecoder().decode(await second.request(new Uint8Array(0)))).toBe('answer')
    // The peer closes again, and this node stops at once, in its draining period.
    void peer.call('close', { peerId: node.peerId })
    await new Promise((resolve) => setTimeout(resolve, relay.delay + 100))
    const stopping = performance.now()
    await node.stop()
    const stop = performance.now() - stopping
    console.log(`closed by the peer: dropped after ${linger.toFixed(0)} ms (one way: ${relay.delay} ms), reconnected in ${reconnect.toFixed(0)} ms, stop() ${stop.toFixed(0)} ms`)
    expect(linger).toBeLessThan(relay.delay + 400)
    expect(stop).toBeLessThan(1000)
    await peer.call('stop')
  }, 30_000)
})
