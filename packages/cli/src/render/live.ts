/**
 * A terminal view with a live table at the bottom and event lines scrolling
 * above it: each update erases the table, prints, and draws it again.
 *
 * @packageDocumentation
 */
import type { Output } from '../io.js'

/** Event lines above, a table redrawn in place below (on a TTY). */
export class LiveView {
  private table: readonly string[] = []
  /** Lines of the table currently on screen. */
  private drawn = 0

  constructor(private readonly out: Output) {}

  /** Print a line above the table. */
  log(line: string): void {
    this.erase()
    this.out.write(`${line}\n`)
    this.draw()
  }

  /** Replace the table. */
  setTable(lines: readonly string[]): void {
    this.erase()
    this.table = lines
    this.draw()
  }

  /** Leave the last table on screen and stop redrawing it. */
  release(): void {
    this.drawn = 0
    this.table = []
  }

  private erase(): void {
    // Cursor to the start of the table's first line, then clear to the end of the screen.
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[0J`)
    this.drawn = 0
  }

  private draw(): void {
    if (this.table.length === 0) return
    // Lines are cut to the width so none wraps: a wrapped line would break the erase count.
    const width = Math.max(20, (this.out.columns ?? 120) - 1)
    this.out.write(`${this.table.map((line) => line.slice(0, width)).join('\n')}\n`)
    this.drawn = this.table.length
  }
}
