import type { CounterMetric, GaugeMetric, HistogramMetric, MetricsRecorder } from './types.js'

const nothing = (): void => {}
const noopMetric: CounterMetric & GaugeMetric & HistogramMetric = { inc: nothing, dec: nothing, observe: nothing }

/**
 * The default backend: records nothing. Its metrics are one shared object of
 * empty methods, and collect callbacks are never called, so a node without
 * metrics does no metrics work.
 */
export const noopMetrics: MetricsRecorder = {
  counter: () => noopMetric,
  gauge: () => noopMetric,
  histogram: () => noopMetric,
  observeCounter: nothing,
  observeGauge: nothing,
}
