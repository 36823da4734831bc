/**
 * The metrics contract: what the node and its plugins record, and what a
 * metrics backend (`@crust/metrics-prometheus`, `@crust/metrics-opentelemetry`,
 * or your own) implements. Names follow Prometheus conventions
 * (`crust_dials_total`, `crust_rtt_seconds`); a backend may adapt them.
 *
 * Label values must come from small, fixed sets (a transport id, an error
 * code, a limit's config name): never a peer id or an address, which would
 * let peers grow the backend's memory without bound.
 *
 * @packageDocumentation
 */

/** Label values of one time series, by label name. */
export type MetricLabels = Readonly<Record<string, string>>

/** Reports one label set's value from a collect callback. */
export type Observe = (value: number, labels?: MetricLabels) => void

/** Name-independent description of a metric. */
export interface MetricOptions {
  /** One line saying what it counts. */
  readonly help: string
  /** The label names its series carry (bounded sets only). */
  readonly labels?: readonly string[]
}

/** Options of a histogram. */
export interface HistogramOptions extends MetricOptions {
  /** Upper bounds of the buckets, ascending; the backend's defaults when absent. */
  readonly buckets?: readonly number[]
}

/** A monotonic count (`*_total`). */
export interface CounterMetric {
  /** Add `value` (default 1) to the series of `labels`. */
  inc(labels?: MetricLabels, value?: number): void
}

/** A value that goes up and down. */
export interface GaugeMetric {
  /** Add `value` (default 1). */
  inc(labels?: MetricLabels, value?: number): void
  /** Subtract `value` (default 1). */
  dec(labels?: MetricLabels, value?: number): void
}

/** A distribution of observed values. */
export interface HistogramMetric {
  observe(value: number, labels?: MetricLabels): void
}

/**
 * A metrics backend. The node calls the factories once per metric at
 * creation; metrics read from state the node keeps anyway (connection
 * counts, byte totals) are registered with a `collect` callback the backend
 * calls when it is scraped, so they cost nothing on the data path.
 *
 * Registering a name twice (two nodes on one backend) must not throw: the
 * backend returns the same metric, and collect callbacks of one name add up.
 */
export interface MetricsRecorder {
  counter(name: string, options: MetricOptions): CounterMetric
  gauge(name: string, options: MetricOptions): GaugeMetric
  histogram(name: string, options: HistogramOptions): HistogramMetric
  /** A counter read when scraped: `collect` reports each label set's total so far (never decreasing). */
  observeCounter(name: string, options: MetricOptions, collect: (observe: Observe) => void): void
  /** A gauge read when scraped: `collect` reports each label set's current value. */
  observeGauge(name: string, options: MetricOptions, collect: (observe: Observe) => void): void
}
