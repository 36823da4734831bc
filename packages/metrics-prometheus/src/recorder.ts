import type { CounterMetric, GaugeMetric, HistogramMetric, MetricLabels, MetricOptions, MetricsRecorder, Observe } from '@crust/core'
import { Counter, Gauge, Histogram, type Metric, type Registry, register } from 'prom-client'

/** Options of {@link prometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** The registry to register in; prom-client's global `register` by default. */
  readonly registry?: Registry
}

/** A {@link MetricsRecorder} on a prom-client registry. */
export interface PrometheusMetrics extends MetricsRecorder {
  /** Where the metrics are: `await registry.metrics()` is the Prometheus text. */
  readonly registry: Registry
}

type Collect = (observe: Observe) => void

/**
 * Collect callbacks of the scrape-time metrics, per metric object, shared by
 * every recorder on a registry: two nodes on one registry add up.
 */
const collectors = new WeakMap<Metric, Collect[]>()

/**
 * A metrics backend writing to a prom-client registry. Metrics read at scrape
 * time (connections, bytes) are computed by collect callbacks when the
 * registry is scraped; nothing is done per message.
 */
export function prometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? register
  const existing = <M extends Metric>(name: string, kind: new (...args: never[]) => M): M | undefined => {
    const metric = registry.getSingleMetric(name)
    if (metric === undefined) return undefined
    if (!(metric instanceof kind)) throw new TypeError(`metric ${name} is already registered as another type`)
    return metric
  }
  const base = (name: string, options: MetricOptions) => ({ name, help: options.help, labelNames: [...(options.labels ?? [])], registers: [registry] })

  const observable = (kind: typeof Counter | typeof Gauge, name: string, options: MetricOptions, collect: Collect): void => {
    const metric = existing(name, kind as new (...args: never[]) => Counter | Gauge)
    if (metric !== undefined) {
      const list = collectors.get(metric)
      if (list === undefined) throw new TypeError(`metric ${name} is already registered and is not read at scrape time`)
      list.push(collect)
      return
    }
    const list: Collect[] = [collect]
    // Each scrape starts afresh: series no collector reports any more (a transport with no connections) disappear.
    function gather(this: Counter | Gauge): void {
      this.reset()
      const add = (value: number, labels?: MetricLabels): void => {
        if (labels === undefined) this.inc(value)
        else this.inc(labels, value)
      }
      for (const each of list) each(add)
    }
    const created = kind === Counter ? new Counter({ ...base(name, options), collect: gather }) : new Gauge({ ...base(name, options), collect: gather })
    collectors.set(created, list)
  }

  return {
    registry,
    counter(name, options): CounterMetric {
      const metric = existing(name, Counter) ?? new Counter(base(name, options))
      return { inc: (labels, value = 1) => (labels === undefined ? metric.inc(value) : metric.inc(labels, value)) }
    },
    gauge(name, options): GaugeMetric {
      const metric = existing(name, Gauge) ?? new Gauge(base(name, options))
      return {
        inc: (labels, value = 1) => (labels === undefined ? metric.inc(value) : metric.inc(labels, value)),
        dec: (labels, value = 1) => (labels === undefined ? metric.dec(value) : metric.dec(labels, value)),
      }
    },
    histogram(name, options): HistogramMetric {
      const buckets = options.buckets === undefined ? {} : { buckets: [...options.buckets] }
      const metric = existing(name, Histogram) ?? new Histogram({ ...base(name, options), ...buckets })
      return { observe: (value, labels) => (labels === undefined ? metric.observe(value) : metric.observe(labels, value)) }
    },
    observeCounter: (name, options, collect) => observable(Counter, name, options, collect),
    observeGauge: (name, options, collect) => observable(Gauge, name, options, collect),
  }
}


