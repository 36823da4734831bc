/**
 * Datagram sizes on a real, non-loopback path: a veth pair into a network
 * namespace (lab/veth.ts) with an MTU of 1500, then 1280. nftables counters
 * in the namespace count every UDP datagram each way and those above the
 * bound (before fragmentation on the way out, after reassembly on the way
 * in). Needs root; skips loudly without it.
 */
import { createTestNode, stopTestNodes } from '@crust/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'
import { VethPath, announceVethSkip, vethUnsupported } from './lab/veth.js'

const unsupported = vethUnsupported()
if (unsupported) announceVethSkip('QUIC datagram-size tests over a veth pair', unsupported)

const MB = 1_000_000

describe.skipIf(unsupported !== undefined)('QUIC datagram sizes over a veth path', () => {
  const paths: VethPath[] = []
  afterEach(async () => {
    await stopTestNodes()
    for (const path of paths.splice(0)) path.destroy()
  })

  async function transfer(mtu: number, bound: number, clientOptions: Record<string, unknown>, listenerOptions: Record<string, unknown>) {
    const path = VethPath.create(mtu)
    paths.push(path)
    const counts = path.countDatagrams(bound)
    const peer = await path.startPeer({ quic: listenerOptions })
    const node = await createTestNode([quic({ host: path.hostIp, ...clientOptions })], { listen: [`quic://${path.hostIp}:0`] })
    node.handle((message) => (message.isRequest ? new Uint8Array(Number(new TextDecoder().decode(message.data))) : undefined))
    const connection = await node.connect({ peerId: peer.peerId, addresses: peer.addresses }, { retry: false })
    const answer = await connection.request(new TextEncoder().encode(String(MB)), { timeout: 15_000 })
    const upload = await peer.call('request', { peerId: node.peerId, size: MB })
    const listenerSends = ((await peer.call('pathOf', { peerId: node.peerId })) as { maxSendUdpPayloadSize: number }).maxSendUdpPayloadSize
    return { answer: answer.byteLength, upload, listenerSends, ...counts() }
  }

  it('the listener never sends more than 1350 bytes off loopback, whatever the client advertises (MTU 1500, 1 MB each way)', async () => {
    // This client allows itself and advertises 65,000-byte datagrams, as other QUIC implementations may.
    const result = await transfer(1500, 1350, { maxUdpPayloadSize: 65_000 }, {})
    console.log(`MTU 1500: listener sent ${result.sent} datagrams, ${result.sentOver} over 1350 bytes (quiche's send size ${result.listenerSends})`)
    expect(result.answer).toBe(MB)
    expect(result.upload).toBe(MB)
    expect(result.sent).toBeGreaterThan(700)
    expect(result.sentOver).toBe(0)
    expect(result.listenerSends).toBeLessThanOrEqual(1350)
  }, 30_000)

  it('with default options neither side exceeds 1350 bytes (MTU 1500, 1 MB each way)', async () => {
    const result = await transfer(1500, 1350, {}, {})
    console.log(`MTU 1500, defaults: listener sent ${result.sent} (${result.sentOver} over 1350), received ${result.received} (${result.receivedOver} over 1350)`)
    expect(result.answer).toBe(MB)
    expect(result.upload).toBe(MB)
    expect(result.sentOver + result.receivedOver).toBe(0)
  }, 30_000)

  it('a path below 1378 bytes (MTU 1280): maxUdpPayloadSize 1232 holds both ways and 1 MB arrives each way', async () => {
    const options = { maxUdpPayloadSize: 1232 }
    const result = await transfer(1280, 1232, options, options)
    console.log(`MTU 1280: listener sent ${result.sent} (${result.sentOver} over 1232), received ${result.received} (${result.receivedOver} over 1232)`)
    expect(result.answer).toBe(MB)
    expect(result.upload).toBe(MB)
    expect(result.sentOver + result.receivedOver).toBe(0)
  }, 30_000)
})
