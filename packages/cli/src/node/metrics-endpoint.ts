/**
 * `crust start --metrics host:port`: the node's metrics in a registry of its
 * own (plus the process's: CPU, memory, event loop), served as Prometheus
 * text at `http://host:port/metrics`.
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import type { MetricsRecorder } from '@crust/core'
import { prometheusMetrics, serveMetrics } from '@crust/metrics-prometheus'
import { Registry, collectDefaultMetrics } from 'prom-client'
import { FailureError, UsageError, messageOf } from '../errors.js'

/** Where `--metrics` asks to serve. */
export interface MetricsAddress {
  readonly host: string
  readonly port: number
}

/** Parse `--metrics`: `host:port`, `[v6]:port`, or `:port` (127.0.0.1). Throws `UsageError`. */
export function parseMetricsAddress(text: string): MetricsAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim())
  const host = match?.[1] ?? (match?.[2] === '' ? '127.0.0.1' : match?.[2])
  const port = Number(match?.[3])
  if (match === null || host === undefined || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`--metrics takes host:port (e.g. 127.0.0.1:9464), got '${text}'`)
  }
  if (match[1] !== undefined && isIP(host) !== 6) throw new UsageError(`--metrics: '${host}' is not an IPv6 address`)
  return { host, port }
}

/** The recorder to give the node, and how to serve what it records. */
export interface MetricsEndpoint {
  readonly recorder: MetricsRecorder
  /** Start serving; resolves to the URL. Throws `FailureError` naming the address when it cannot bind. */
  listen(): Promise<{ url: string; close(): Promise<void> }>
}

export function metricsEndpoint(address: MetricsAddress): MetricsEndpoint {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return {
    recorder: prometheusMetrics({ registry }),
    async listen() {
      try {
        return await serveMetrics(registry, address)
      } catch (error) {
        throw new FailureError(`cannot serve metrics on ${address.host}:${address.port}: ${messageOf(error)}`)
      }
    },
  }
}
