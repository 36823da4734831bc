/**
 * Keeps a flood of one kind of report (refused handshakes, a peer's bad
 * streams) from becoming a flood of log lines and events: the first
 * `perInterval` reports of each kind in an interval go out as usual, later
 * ones are only counted, and at the end of the interval one summary per kind
 * says how many were held back.
 */
export class ReportThrottle {
  /** Kinds come from a fixed vocabulary (error names); the cap is a backstop. */
  private static readonly MAX_KINDS = 64
  private readonly seen = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly intervalMs: number,
    private readonly perInterval: number,
    /** Called once per kind per interval in which reports were held back. */
    private readonly summarise: (kind: string, suppressed: number, intervalMs: number) => void,
  ) {}

  /** True when this report should go out now; false when it was counted for the summary. */
  admit(kind: string): boolean {
    const key = this.seen.has(kind) || this.seen.size < ReportThrottle.MAX_KINDS ? kind : 'other'
    const count = (this.seen.get(key) ?? 0) + 1
    this.seen.set(key, count)
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs).unref()
    return count <= this.perInterval
  }

  /** Summarise what was held back and start a new interval. */
  flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const counts = [...this.seen]
    this.seen.clear()
    for (const [kind, count] of counts) {
      if (count > this.perInterval) this.summarise(kind, count - this.perInterval, this.intervalMs)
    }
  }
}
