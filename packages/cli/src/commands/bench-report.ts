/**
 * The benchmark JSON (`bench/all.mjs`: `{ tcp?: ..., quic?: ... }`, see
 * bench/README.md) as tables. The JSON is read defensively: a field a
 * future bench drops shows as `-`.
 *
 * @packageDocumentation
 */
import { renderTable } from '../render/table.js'
import { formatBytes } from '../render/format.js'

type Json = Record<string, unknown>

/** The value at `path` when it is a number. */
function num(root: unknown, ...path: string[]): number | undefined {
  let value: unknown = root
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Json)[key] : undefined
  return typeof value === 'number' ? value : undefined
}

function bool(root: unknown, ...path: string[]): boolean | undefined {
  let value: unknown = root
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Json)[key] : undefined
  return typeof value === 'boolean' ? value : undefined
}

const show = (value: number | undefined, unit = ''): string => (value === undefined ? '-' : `${value.toLocaleString('en-US')}${unit}`)
const met = (value: boolean | undefined): string => (value === undefined ? '-' : value ? 'yes' : 'NO')

interface Row {
  readonly cells: readonly string[]
}

function table(headers: readonly string[], rows: readonly Row[], right: readonly number[]): string[] {
  return renderTable(
    headers.map((header, i) => ({ header, cell: (row: Row) => row.cells[i] ?? '', right: right.includes(i) })),
    rows,
  )
}

/** The TCP suite (`bench/run.mjs`): Crust over TCP against raw node:tls. */
function tcpTable(tcp: unknown): string[] {
  const r = (scenario: string, impl: string, field: string) => num(tcp, 'results', scenario, impl, field)
  const ratio = (scenario: string) => num(tcp, 'results', scenario, 'ratio')
  const rows: Row[] = [
    { cells: ['throughput (64 MiB, one stream)', show(r('throughput', 'crust-tcp', 'MBps'), ' MB/s'), show(r('throughput', 'raw-tls', 'MBps'), ' MB/s'), show(ratio('throughput')), '≥ 0.7', met(bool(tcp, 'pass', 'throughputRatio'))] },
    { cells: ['messages (1 KiB requests, 64 in flight)', show(r('messages', 'crust-tcp', 'messagesPerSecond'), ' msg/s'), show(r('messages', 'raw-tls', 'messagesPerSecond'), ' msg/s'), show(ratio('messages')), 'crust ≥ 20,000/s', met(bool(tcp, 'pass', 'messagesPerSecond'))] },
    { cells: ['connect (median)', show(r('connect', 'crust-tcp', 'medianMs'), ' ms'), show(r('connect', 'raw-tls', 'medianMs'), ' ms'), show(ratio('connect')), '≤ 2', met(bool(tcp, 'pass', 'connectRatio'))] },
    {
      cells: [
        'idle memory per connection',
        bytesOr(r('idleMemory', 'crust-tcp', 'bytesPerConnection')),
        bytesOr(r('idleMemory', 'raw-tls', 'bytesPerConnection')),
        show(ratio('idleMemory')),
        '-',
        '-',
      ],
    },
  ]
  return table(['TCP', 'crust-tcp', 'raw-tls', 'ratio', 'target', 'met'], rows, [1, 2, 3])
}

/** The QUIC suite (`quic-bench.mjs`): bare @matrixai/quic against Crust over QUIC. */
function quicTable(quic: unknown): string[] {
  const impls = ['bare-default', 'bare-patched', 'crust-quic']
  const rows: Row[] = impls.map((impl) => ({
    cells: [
      impl,
      show(num(quic, 'results', impl, 'throughputMBps'), ' MB/s'),
      show(num(quic, 'results', impl, 'messagesPerSecond'), ' msg/s'),
      show(num(quic, 'results', impl, 'connectMedianMs'), ' ms'),
    ],
  }))
  const lines = table(['QUIC', 'throughput', 'messages', 'connect (median)'], rows, [1, 2, 3])
  const t = num(quic, 'ratios', 'throughputCrustOverBareDefault')
  const m = num(quic, 'ratios', 'messagesCrustOverBareDefault')
  if (t !== undefined || m !== undefined) lines.push(`crust-quic / bare-default: throughput ×${show(t)}, messages ×${show(m)}`)
  return lines
}

function bytesOr(value: number | undefined): string {
  return value === undefined ? '-' : formatBytes(value)
}

/**
 * The report as text: one table per suite present, plus the machine and
 * duration lines.
 */
export function renderBenchReport(report: unknown): string {
  const out: string[] = []
  for (const [suite, render] of [
    ['tcp', tcpTable],
    ['quic', quicTable],
  ] as const) {
    const data = typeof report === 'object' && report !== null ? (report as Json)[suite] : undefined
    if (data === undefined) continue
    const machine = (data as Json).machine as Json | undefined
    const seconds = num(data, 'durationSeconds')
    out.push(...render(data))
    const about = [machine ? `${machine.cpus ?? '?'} CPUs, ${machine.cpuModel ?? '?'}, Node ${machine.node ?? '?'}` : undefined, seconds === undefined ? undefined : `${seconds} s`]
    out.push(`(${about.filter(Boolean).join('; ')})`, '')
  }
  if (out.length === 0) return 'the benchmark JSON holds neither a tcp nor a quic suite\n'
  return `${out.join('\n')}`
}
