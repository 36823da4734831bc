/**
 * `@crust/metrics-prometheus`: a Crust node's metrics in a prom-client
 * registry. Pass `prometheusMetrics()` as the node's `metrics`, and serve
 * `registry.metrics()` at `/metrics` (or use {@link serveMetrics}).
 *
 * @example
 * ```ts
 * const metrics = prometheusMetrics()
 * const node = await createNode({ networkName: 'app', transports: [tcp()], metrics })
 * const server = await serveMetrics(metrics.registry, { host: '127.0.0.1', port: 9464 })
 * ```
 *
 * @packageDocumentation
 */
export { prometheusMetrics, type PrometheusMetrics, type PrometheusMetricsOptions } from './recorder.js'
export { serveMetrics, type MetricsServer, type ServeMetricsOptions } from './server.js'
