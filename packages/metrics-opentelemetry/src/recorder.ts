import type { MetricLabels, MetricOptions, MetricsRecorder, Observe } from '@crust/core'
import { type Meter, type ObservableResult, metrics } from '@opentelemetry/api'

/** Options of {@link openTelemetryMetrics}. */
export interface OpenTelemetryMetricsOptions {
  /** The meter to make instruments on; the global provider's `@crust/core` meter by default. */
  readonly meter?: Meter
}

type Collect = (observe: Observe) => void

/**
 * The OpenTelemetry name of a Crust metric: a counter's `_total` suffix is
 * dropped (OpenTelemetry's Prometheus exporter adds it back), the rest is kept.
 */
export function otelName(name: string): string {
  return name.endsWith('_total') ? name.slice(0, -'_total'.length) : name
}

/** The unit a Prometheus-style name states, in UCUM. */
function unitOf(name: string): string | undefined {
  if (name.endsWith('_seconds')) return 's'
  if (name.includes('_bytes')) return 'By'
  return undefined
}

/** Scrape-time callbacks per meter and name: two nodes on one meter add up instead of overwriting each other. */
const observed = new WeakMap<Meter, Map<string, Collect[]>>()

/**
 * A metrics backend making OpenTelemetry instruments: counters, up-down
 * counters for gauges, histograms, and observable counters and gauges for
 * what the node reads when metrics are collected (nothing per message).
 */
export function openTelemetryMetrics(options: OpenTelemetryMetricsOptions = {}): MetricsRecorder {
  const meter = options.meter ?? metrics.getMeter('@crust/core')
  let byName = observed.get(meter)
  if (byName === undefined) {
    byName = new Map()
    observed.set(meter, byName)
  }
  const callbacks = byName
  const describe = (name: string, options: MetricOptions) => {
    const unit = unitOf(name)
    return { description: options.help, ...(unit === undefined ? {} : { unit }) }
  }
  const observable = (kind: 'counter' | 'gauge', name: string, options: MetricOptions, collect: Collect): void => {
    const key = `${kind} ${name}`
    const list = callbacks.get(key)
    if (list !== undefined) {
      list.push(collect)
      return
    }
    const all: Collect[] = [collect]
    callbacks.set(key, all)
    const instrument =
      kind === 'counter'
        ? meter.createObservableCounter(otelName(name), describe(name, options))
        : meter.createObservableGauge(otelName(name), describe(name, options))
    instrument.addCallback((result: ObservableResult) => {
      // Sum each label set over every node on this meter, then report each once.
      const sums = new Map<string, { labels: MetricLabels | undefined; value: number }>()
      for (const each of all) {
        each((value, labels) => {
          const id = labels === undefined ? '' : JSON.stringify(Object.entries(labels).sort())
          const entry = sums.get(id)
          if (entry === undefined) sums.set(id, { labels, value })
          else entry.value += value
        })
      }
      for (const { labels, value } of sums.values()) result.observe(value, labels)
    })
  }

  return {
    counter(name, options) {
      const counter = meter.createCounter(otelName(name), describe(name, options))
      return { inc: (labels, value = 1) => counter.add(value, labels) }
    },
    gauge(name, options) {
      const gauge = meter.createUpDownCounter(otelName(name), describe(name, options))
      return { inc: (labels, value = 1) => gauge.add(value, labels), dec: (labels, value = 1) => gauge.add(-value, labels) }
    },
    histogram(name, options) {
      const advice = options.buckets === undefined ? {} : { advice: { explicitBucketBoundaries: [...options.buckets] } }
      const histogram = meter.createHistogram(otelName(name), { ...describe(name, options), ...advice })
      return { observe: (value, labels) => histogram.record(value, labels) }
    },
    observeCounter: (name, options, collect) => observable('counter', name, options, collect),
    observeGauge: (name, options, collect) => observable('gauge', name, options, collect),
  }
}
