/** One pair of the NAT matrix and how it connected. */
export interface LabRow {
  /** What the dialer sits behind: EIM, EDM, UPnP or LAN. */
  readonly a: string
  /** What the target sits behind. */
  readonly b: string
  /** What the routers allow, e.g. `punched`, `upnp`, `punched|relayed`. */
  readonly expected: string
  readonly outcome: 'direct' | 'upnp' | 'punched' | 'relayed' | 'failed'
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

const DIRECT = new Set(['direct', 'upnp', 'punched'])

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
