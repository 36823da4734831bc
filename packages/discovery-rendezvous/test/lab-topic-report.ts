/** The figures of the rendezvous-by-topic lab (issue 17): time from `start()` to connected, per node and per NAT pair type. */

/** One node of the topic and how long it took to be connected with every other. */
export interface TopicNode {
  readonly phase: string
  readonly node: string
  readonly nat: string
  /** Other members of the topic. */
  readonly peers: number
  /** Of those, not connected within the bound. */
  readonly missing: number
  /** From its `start()` to connected with all of them (ms); null when some never were. */
  readonly ms: number | null
}

/** One pair of members and how it connected. */
export interface TopicPair {
  readonly phase: string
  /** `LAN` (behind the same router) or the two NAT kinds, e.g. `EDM ↔ EIM`. */
  readonly type: string
  readonly a: string
  readonly b: string
  /** The connection's method at the end: direct, upnp, punched, relayed, or none. */
  readonly method: string
  /** From the later of the two `start()` calls to both ends connected (ms); null when they were not. */
  readonly ms: number | null
  /** Whether a request over it was answered. */
  readonly answered: boolean
}

/** The pairs of one NAT pair type. */
export interface PairTypeSummary {
  readonly type: string
  readonly pairs: number
  /** How many pairs ended on each method. */
  readonly methods: Readonly<Record<string, number>>
  readonly medianMs: number | null
  readonly maxMs: number | null
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((x, y) => x - y)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : Math.round(((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2)
}

/** Pairs grouped by NAT pair type, in order of first appearance. */
export function summarizePairs(pairs: readonly TopicPair[]): PairTypeSummary[] {
  const groups = new Map<string, TopicPair[]>()
  for (const pair of pairs) groups.set(pair.type, [...(groups.get(pair.type) ?? []), pair])
  return [...groups].map(([type, group]) => {
    const methods: Record<string, number> = {}
    for (const pair of group) methods[pair.method] = (methods[pair.method] ?? 0) + 1
    const times = group.map((pair) => pair.ms).filter((ms): ms is number => ms !== null)
    const complete = times.length === group.length
    return { type, pairs: group.length, methods, medianMs: median(times), maxMs: complete ? Math.max(...times) : null }
  })
}

function table(header: readonly string[], body: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => (cells[column] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')
  return [line(header), widths.map((width) => '-'.repeat(width)).join('-|-'), ...body.map(line)]
}

const ms = (value: number | null): string => (value === null ? 'never' : `${value} ms`)

/** Both tables as plain text. */
export function formatTopicLab(nodes: readonly TopicNode[], pairs: readonly PairTypeSummary[]): string {
  const byPair = table(
    ['NAT pair', 'pairs', 'ended as', 'median', 'max'],
    pairs.map((p) => [
      p.type,
      String(p.pairs),
      Object.entries(p.methods)
        .map(([method, count]) => `${count} ${method}`)
        .join(', '),
      ms(p.medianMs),
      ms(p.maxMs),
    ]),
  )
  const byNode = table(
    ['phase', 'node', 'behind', 'peers', 'connected with all'],
    nodes.map((n) => [n.phase, n.node, n.nat, n.missing === 0 ? String(n.peers) : `${n.peers - n.missing}/${n.peers}`, ms(n.ms)]),
  )
  return [
    'Rendezvous by topic (issue 17): start() to connected, per NAT pair type (from the later start of the two)',
    ...byPair,
    '',
    'Per node: start() to connected with every other peer of the topic',
    ...byNode,
  ].join('\n')
}
