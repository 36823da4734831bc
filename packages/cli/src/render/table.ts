/**
 * Plain-text tables: a header row, aligned columns, numbers right-aligned.
 *
 * @packageDocumentation
 */

/** One column of a table. */
export interface Column<Row> {
  /** Header text. */
  readonly header: string
  /** The cell text of a row. */
  readonly cell: (row: Row) => string
  /** Right-align (for numbers). */
  readonly right?: boolean
}

/**
 * Render `rows` as aligned text lines (no trailing newline). Lines wider
 * than `width` are cut, so a table never wraps on a narrow terminal.
 */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[], width?: number): string[] {
  const cells = rows.map((row) => columns.map((column) => column.cell(row)))
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((r) => (r[i] ?? '').length)))
  const line = (texts: readonly string[]): string => {
    const text = texts
      .map((t, i) => (columns[i]?.right ? t.padStart(widths[i] ?? 0) : t.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
    return width !== undefined && text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text
  }
  return [line(columns.map((c) => c.header)), ...cells.map(line)]
}
