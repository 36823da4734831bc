import { prometheusMetrics } from '@crust/metrics-prometheus'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { relay } from '../src/relay/index.js'
import { parsePrometheusText, sampleValue } from '../../metrics-prometheus/test/parse.js'
import { contactOf, startNode, triangle } from './relay-helpers.js'

describe('relay: metrics', () => {
  it('the relay reports the circuits it carries and its refusals by reason', async () => {
    const registry = new Registry()
    const scrape = async () => parsePrometheusText(await registry.metrics())
    const { r, a, b } = await triangle({ server: { maxCircuitsPerPeer: 1 }, r: { metrics: prometheusMetrics({ registry }) } })
    expect(sampleValue(await scrape(), 'crust_relay_circuits')).toBe(0)

    await a.connect({ peerId: b.peerId, addresses: [] })
    const samples = await scrape()
    expect(sampleValue(samples, 'crust_relay_circuits')).toBe(1)
    expect(sampleValue(samples, 'crust_connections', { method: 'direct', direction: 'inbound' })).toBe(2)

    const d = await startNode({ role: 'client', services: [relay({ upgrade: false })] })
    await d.connect(contactOf(r))
    await expect(a.connect({ peerId: d.peerId, addresses: [] }, { retry: false })).rejects.toThrow()
    expect(sampleValue(await scrape(), 'crust_relay_refusals_total', { reason: 'limit' })).toBe(1)
  })
})
