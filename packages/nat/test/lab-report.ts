import { readFileSync, writeFileSync } from 'node:fs'

/** One pair of the NAT matrix and how it connected. */
export interface LabRow {
  /** What the dialer sits behind: EIM, EDM, UPnP, PCP or LAN. */
  readonly a: string
  /** What the target sits behind. */
  readonly b: string
  /** What the routers allow, e.g. `punched`, `upnp`, `punched|relayed`. */
  readonly expected: string
  readonly outcome: 'direct' | 'upnp' | 'pcp' | 'nat-pmp' | 'punched' | 'relayed' | 'failed'
  /** The method each end reported (dialer, target). */
  readonly methods: readonly string[]
  readonly transport: string
  /** Time from the connect call to the first answered request (ms). */
  readonly ms: number
  readonly error?: string
}

/** The figures the issue asks for. */
export interface LabSummary {
  readonly pairs: number
  /** Share of pairs that connected at all (goal 100 %). */
  readonly connected: number
  /** Share of pairs whose routers allow a direct path that got one (goal 100 %). */
  readonly directWhereAllowed: number
}

const DIRECT = new Set(['direct', 'upnp', 'pcp', 'nat-pmp', 'punched'])

/** A pair's routers allow a direct path unless relaying is the only expectation. */
function allowsDirect(row: LabRow): boolean {
  return row.expected.split('|').every((outcome) => outcome !== 'relayed')
}

export function summarize(rows: readonly LabRow[]): LabSummary {
  const share = (part: number, whole: number): number => (whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10)
  const allowed = rows.filter(allowsDirect)
  return {
    pairs: rows.length,
    connected: share(rows.filter((row) => row.outcome !== 'failed').length, rows.length),
    directWhereAllowed: share(allowed.filter((row) => DIRECT.has(row.outcome)).length, allowed.length),
  }
}

/** The matrix as a plain-text table. */
export function formatMatrix(rows: readonly LabRow[], summary: LabSummary): string {
  const header = ['A behind', 'B behind', 'expected', 'outcome', 'transport', 'first message']
  const body = rows.map((row) => [row.a, row.b, row.expected, row.outcome, row.transport, `${row.ms} ms`])
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => (cells[column] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')
  return [
    line(header),
    widths.map((width) => '-'.repeat(width)).join('-|-'),
    ...body.map(line),
    '',
    `connected: ${summary.connected} % of ${summary.pairs} pairs; direct where the routers allow it: ${summary.directWhereAllowed} %`,
  ].join('\n')
}

/** One resilience scenario (issue 13): what was sent, acknowledged and arrived around a network event. */
export interface ResilienceRow {
  readonly scenario: string
  /** Whether the peer-addressed API (`node.send` / `node.request` / `node.keep`) was used, or `conn.send` with re-dialling. */
  readonly api: 'node' | 'conn'
  readonly sent: number
  /** Sends (or requests) that resolved: the receiver acknowledged (answered) them. */
  readonly acknowledged: number
  /** Distinct messages the receiver got. */
  readonly arrived: number
  /** Extra copies the receiver got. */
  readonly duplicated: number
  /** Sends that resolved but never arrived (must be 0). */
  readonly resolvedButLost: number
  /** Time from the event until messages flowed again (ms); null when they did not within the scenario's window; absent when there is no outage to recover from. */
  readonly recoveryMs?: number | null
  readonly methodBefore: string
  readonly methodAfter: string
  /** Anything else worth keeping (e.g. stop time, rejected sends while down). */
  readonly notes?: string
}

/** Merge `section` into the results file, keeping what other lab tests wrote there. */
export function mergeResults(file: string, section: Record<string, unknown>): void {
  let current: Record<string, unknown> = {}
  try {
    current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  } catch {
    // no results yet
  }
  writeFileSync(file, `${JSON.stringify({ ...current, ...section }, null, 2)}\n`)
}

/** The resilience rows as a plain-text table. */
export function formatResilience(rows: readonly ResilienceRow[]): string {
  const header = ['scenario', 'api', 'sent', 'acked', 'arrived', 'dup', 'acked+lost', 'flowing again', 'method before → after', 'notes']
  const body = rows.map((row) => [
    row.scenario,
    row.api,
    String(row.sent),
    String(row.acknowledged),
    String(row.arrived),
    String(row.duplicated),
    String(row.resolvedButLost),
    row.recoveryMs === undefined ? '-' : row.recoveryMs === null ? 'never' : `${row.recoveryMs} ms`,
    `${row.methodBefore} → ${row.methodAfter}`,
    row.notes ?? '',
  ])
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => (cells[column] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')
  return ['Resilience (issue 13)', line(header), widths.map((width) => '-'.repeat(width)).join('-|-'), ...body.map(line)].join('\n')
}

/** One hard-NAT attempt (issue 18): an EIM node and a fresh node behind an EDM router. */
export interface HardNatRow {
  readonly pair: 'EIM ↔ EDM (sequential)' | 'EIM ↔ EDM (random)'
  /** Which side dialled. */
  readonly dialer: 'EIM' | 'EDM'
  /** Connect call to the first answered request (ms); null when it never connected. */
  readonly firstMessageMs: number | null
  /** The method of the first connection (`punched`, or `relayed` before an upgrade). */
  readonly firstMethod: string
  /** Connect call until both ends reported `punched` (ms); null when not within the wait. */
  readonly directMs: number | null
  /** Punch packets both sides sent (punches, probes, one per probe socket). */
  readonly packets: number
  /** The most packets one hard-NAT attempt sent, per side. */
  readonly mostPerSide: { readonly easy: number; readonly hard: number }
}

/** Per pair type: the figures the issue asks for. */
export interface HardNatSummary {
  readonly pair: string
  readonly attempts: number
  /** Connected at all (%). */
  readonly connected: number
  /** Direct (`punched` on both ends) within 2 s and within 5 s of the connect call (%). */
  readonly directWithin2s: number
  readonly directWithin5s: number
  readonly firstMessageMedianMs: number | null
  readonly directMedianMs: number | null
  readonly firstMethods: string
  readonly packetsMedian: number
  readonly packetsMax: number
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? null
}

export function summarizeHardNat(rows: readonly HardNatRow[]): HardNatSummary[] {
  const pairs = [...new Set(rows.map((row) => row.pair))]
  const share = (part: number, whole: number): number => (whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10)
  return pairs.map((pair) => {
    const of = rows.filter((row) => row.pair === pair)
    const within = (ms: number) => of.filter((row) => row.directMs !== null && row.directMs <= ms).length
    const methods = [...new Set(of.map((row) => row.firstMethod))].join(', ')
    return {
      pair,
      attempts: of.length,
      connected: share(of.filter((row) => row.firstMessageMs !== null).length, of.length),
      directWithin2s: share(within(2_000), of.length),
      directWithin5s: share(within(5_000), of.length),
      firstMessageMedianMs: median(of.flatMap((row) => (row.firstMessageMs === null ? [] : [row.firstMessageMs]))),
      directMedianMs: median(of.flatMap((row) => (row.directMs === null ? [] : [row.directMs]))),
      firstMethods: methods,
      packetsMedian: median(of.map((row) => row.packets)) ?? 0,
      packetsMax: Math.max(0, ...of.map((row) => row.packets)),
    }
  })
}

/** The hard-NAT summary as a plain-text table. */
export function formatHardNat(summary: readonly HardNatSummary[]): string {
  const header = ['pair', 'attempts', 'connected', 'direct ≤ 2 s', 'direct ≤ 5 s', 'first message (median)', 'first method', 'direct (median)', 'packets (median / max)']
  const ms = (value: number | null): string => (value === null ? '-' : `${value} ms`)
  const body = summary.map((s) => [
    s.pair,
    String(s.attempts),
    `${s.connected} %`,
    `${s.directWithin2s} %`,
    `${s.directWithin5s} %`,
    ms(s.firstMessageMedianMs),
    s.firstMethods,
    ms(s.directMedianMs),
    `${s.packetsMedian} / ${s.packetsMax}`,
  ])
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => (cells[column] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')
  return ['Hard NATs (issue 18)', line(header), widths.map((width) => '-'.repeat(width)).join('-|-'), ...body.map(line)].join('\n')
}
