import { contactOf, createTestNode, stopTestNodes } from '@crust/core/testing'
import { tcp } from '@crust/transport-tcp'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import { afterEach, describe, expect, it } from 'vitest'
import { openTelemetryMetrics, otelName } from '../src/index.js'

afterEach(() => stopTestNodes())

/** An SDK meter provider whose metrics a test reads on demand. */
function inMemory(): { provider: MeterProvider; collect: () => Promise<MetricData[]> } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  return {
    provider,
    collect: async () => {
      const { resourceMetrics, errors } = await reader.collect()
      expect(errors).toEqual([])
      return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)
    },
  }
}

/** The value of `name`'s data point whose attributes include `attributes`. */
function point(metrics: readonly MetricData[], name: string, attributes: Record<string, string> = {}): unknown {
  const metric = metrics.find((m) => m.descriptor.name === name)
  const found = metric?.dataPoints.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
  return found?.value
}

describe('OpenTelemetry metrics', () => {
  it('names counters without _total', () => {
    expect(otelName('crust_dials_total')).toBe('crust_dials')
    expect(otelName('crust_rtt_seconds')).toBe('crust_rtt_seconds')
  })

  it('records a real node: connections, messages, bytes, RTTs, dials', async () => {
    const { provider, collect } = inMemory()
    const a = await createTestNode([tcp({ host: '127.0.0.1' })], { metrics: openTelemetryMetrics({ meter: provider.getMeter('test') }) })
    const b = await createTestNode([tcp({ host: '127.0.0.1' })])
    const connection = await a.connect(contactOf(b))
    await connection.send(new Uint8Array(100))
    await connection.ping()

    const metrics = await collect()
    expect(point(metrics, 'crust_connections', { transport: 'tcp', method: 'direct', direction: 'outbound' })).toBe(1)
    expect(point(metrics, 'crust_messages', { direction: 'out' })).toBe(1)
    expect(point(metrics, 'crust_bytes', { direction: 'out' })).toBe(100)
    expect(point(metrics, 'crust_dials')).toBe(1)
    const rtt = point(metrics, 'crust_rtt_seconds') as { count: number; sum: number }
    expect(rtt.count).toBe(1)
    expect(rtt.sum).toBeGreaterThan(0)
    expect(metrics.find((m) => m.descriptor.name === 'crust_rtt_seconds')?.descriptor.unit).toBe('s')
    await provider.shutdown()
  })

  it('counts failed dials by reason', async () => {
    const { provider, collect } = inMemory()
    const a = await createTestNode([tcp({ host: '127.0.0.1' })], { metrics: openTelemetryMetrics({ meter: provider.getMeter('test') }) })
    const b = await createTestNode([tcp({ host: '127.0.0.1' })])
    const address = b.addresses[0]!
    await b.stop()
    const error = (await a.connect({ addresses: [address] }, { retry: false }).catch((e: unknown) => e)) as { code: string }
    expect(point(await collect(), 'crust_dial_failures', { reason: error.code })).toBe(1)
    await provider.shutdown()
  })
})
