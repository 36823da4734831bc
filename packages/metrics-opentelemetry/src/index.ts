/**
 * `@crust/metrics-opentelemetry`: a Crust node's metrics as OpenTelemetry
 * instruments on a `Meter` (the global meter provider's by default), for
 * whatever exporter the application's OpenTelemetry SDK is set up with.
 *
 * @example
 * ```ts
 * const node = await createNode({ networkName: 'app', transports: [tcp()], metrics: openTelemetryMetrics() })
 * ```
 *
 * @packageDocumentation
 */
export { openTelemetryMetrics, otelName, type OpenTelemetryMetricsOptions } from './recorder.js'
