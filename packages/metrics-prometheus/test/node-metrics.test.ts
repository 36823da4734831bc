import { type CrustNode, type NodeConfigInput, type NodeEvents, type ServiceFactory, type TransportFactory, isCrustError } from '@crust/core'
import { contactOf, createTestNode, stopTestNodes, waitUntil } from '@crust/core/testing'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { prometheusMetrics } from '../src/index.js'
import { parsePrometheusText, sampleValue } from './parse.js'

afterEach(() => stopTestNodes())

const transports: Record<string, () => TransportFactory> = {
  tcp: () => tcp({ host: '127.0.0.1' }),
  quic: () => quic({ host: '127.0.0.1' }),
}

async function metered(transport: string, overrides: Partial<NodeConfigInput> = {}): Promise<{ node: CrustNode; scrape: () => Promise<ReturnType<typeof parsePrometheusText>> }> {
  const registry = new Registry()
  const node = await createTestNode([transports[transport]!()], { metrics: prometheusMetrics({ registry }), ...overrides })
  return { node, scrape: async () => parsePrometheusText(await registry.metrics()) }
}

describe.each(['tcp', 'quic'])('node metrics over %s', (transport) => {
  it('count connections, messages, message and stream bytes, and RTTs, on real nodes', async () => {
    const a = await metered(transport)
    const b = await metered(transport)
    b.node.handle((message) => (message.isRequest ? new Uint8Array(10) : undefined))
    b.node.handleStream('/sink/1', async (stream) => {
      for await (const _ of stream) {
        // drain
      }
      stream.end()
    })
    const connection = await a.node.connect(contactOf(b.node))
    await connection.send(new Uint8Array(100))
    await connection.request(new Uint8Array(50))
    const stream = await connection.openStream('/sink/1')
    await new Promise<void>((resolve, reject) => stream.end(new Uint8Array(4000), () => resolve()).once('error', reject))
    await waitUntil(() => connection.stats.bytesSent >= 4150, 5_000, 'stream bytes counted')
    await connection.ping()

    const samples = await a.scrape()
    expect(sampleValue(samples, 'crust_connections', { transport, method: 'direct', direction: 'outbound' })).toBe(1)
    expect(sampleValue(samples, 'crust_messages_total', { direction: 'out' })).toBe(2)
    expect(sampleValue(samples, 'crust_messages_total', { direction: 'in' })).toBe(1)
    expect(sampleValue(samples, 'crust_bytes_total', { direction: 'out' })).toBe(4150)
    expect(sampleValue(samples, 'crust_bytes_total', { direction: 'in' })).toBe(10)
    expect(sampleValue(samples, 'crust_rtt_seconds_count')).toBe(1)
    expect(sampleValue(samples, 'crust_dials_total')).toBe(1)
    const onB = await b.scrape()
    expect(sampleValue(onB, 'crust_connections', { transport, direction: 'inbound' })).toBe(1)
    await waitUntil(() => b.node.connections[0]!.stats.bytesReceived >= 4150, 5_000, 'stream bytes received')

    // Totals survive the connection; the gauge drops to nothing.
    await connection.close()
    await waitUntil(() => a.node.connections.length === 0, 5_000, 'closed')
    const after = await a.scrape()
    expect(sampleValue(after, 'crust_connections', { transport })).toBeUndefined()
    expect(sampleValue(after, 'crust_bytes_total', { direction: 'out' })).toBe(4150)
  })
})

describe('RTT without pings, dial failures and limits', () => {
  // TCP only: QUIC's binding gives its RTT in whole ms, 0 on a fast loopback (then stats.rtt waits for a ping).
  it('stats.rtt is filled from the mux keep-alives over TCP, without a ping', async () => {
    const a = await metered('tcp')
    const b = await metered('tcp')
    const connection = await a.node.connect(contactOf(b.node))
    await waitUntil(() => connection.stats.rtt !== undefined, 5_000, 'an RTT from the transport')
    // In ms: no round trip through both event loops takes under 50 µs (a unit mistake would show as a few µs).
    expect(connection.stats.rtt).toBeGreaterThan(0.05)
    expect(connection.stats.rtt).toBeLessThan(1000)
  })

  it('a failed dial emits dial:failed with its code, and is counted by reason', async () => {
    const a = await metered('tcp')
    const b = await metered('tcp')
    const address = b.node.addresses[0]!
    await b.node.stop()
    const failed: Array<NodeEvents['dial:failed']> = []
    a.node.on('dial:failed', (event) => failed.push(event))
    const error = await a.node.connect({ addresses: [address] }, { retry: false }).catch((e: unknown) => e)
    expect(isCrustError(error)).toBe(true)
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ addresses: [address], code: (error as { code: string }).code })
    expect(failed[0]!.error).toBe(error)
    const samples = await a.scrape()
    expect(sampleValue(samples, 'crust_dial_failures_total', { reason: failed[0]!.code })).toBe(1)
    expect(sampleValue(samples, 'crust_dials_total')).toBe(1)
  })

  it('streams refused at a limit are counted by the limit name', async () => {
    const a = await metered('tcp')
    const b = await metered('tcp')
    b.node.handleStream('/hold/1', () => {}, { maxStreamsPerPeer: 1 })
    const connection = await a.node.connect(contactOf(b.node))
    await connection.openStream('/hold/1')
    const refused = await connection.openStream('/hold/1').catch((e: unknown) => e)
    expect(isCrustError(refused, 'ERR_LIMIT_EXCEEDED')).toBe(true)
    expect(sampleValue(await b.scrape(), 'crust_limits_hit_total', { limit: 'protocol.maxStreamsPerPeer' })).toBe(1)
  })

  it('inbound connections refused at a limit are counted by the limit name', async () => {
    const b = await metered('tcp', { connection: { maxInboundPerIp: 1 } })
    const a1 = await createTestNode([tcp({ host: '127.0.0.1' })])
    const a2 = await createTestNode([tcp({ host: '127.0.0.1' })])
    await a1.connect(contactOf(b.node))
    await expect(a2.connect(contactOf(b.node), { retry: false })).rejects.toThrow()
    expect(sampleValue(await b.scrape(), 'crust_limits_hit_total', { limit: 'connection.maxInboundPerIp' })).toBe(1)
  })

  it('NAT status: the state each traversal service last reported', async () => {
    const stun: ServiceFactory = (components) => ({
      id: 'fake-stun',
      start: async () => components.reportTraversal({ kind: 'stun', state: 'endpoint-independent', addresses: ['quic://203.0.113.7:4001'] }),
      stop: async () => {},
    })
    const { scrape } = await metered('tcp', { services: [stun] })
    expect(sampleValue(await scrape(), 'crust_nat_status', { kind: 'stun', state: 'endpoint-independent' })).toBe(1)
  })

  it('two nodes on one registry add up', async () => {
    const registry = new Registry()
    const a = await createTestNode([tcp({ host: '127.0.0.1' })], { metrics: prometheusMetrics({ registry }) })
    const b = await createTestNode([tcp({ host: '127.0.0.1' })], { metrics: prometheusMetrics({ registry }) })
    await a.connect(contactOf(b))
    await waitUntil(() => b.connections.length === 1, 5_000, 'b has the connection')
    const samples = parsePrometheusText(await registry.metrics())
    expect(sampleValue(samples, 'crust_connections', { direction: 'outbound' })).toBe(1)
    expect(sampleValue(samples, 'crust_connections', { direction: 'inbound' })).toBe(1)
  })
})
