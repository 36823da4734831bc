/**
 * Durations in config: milliseconds as a number, or a string with a unit as
 * the CLI's flags take them (`"500ms"`, `"5s"`, `"1.5s"`, `"2m"`, `"1h"`), so
 * a config file and `createNode` accept the same values.
 *
 * @packageDocumentation
 */
import { z } from 'zod'

/** Milliseconds per unit. */
const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const

/** A duration written with a unit, e.g. `"5s"`; its TypeScript type is `${number}ms | ${number}s | ...`. */
const durationText = z.templateLiteral([z.number().nonnegative(), z.enum(['ms', 's', 'm', 'h'])])

/** A duration string such as `"5s"` in milliseconds (rounded); NaN when it is not one (the schema then refuses it). */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text)
  if (match === null) return Number.NaN
  return Math.round(Number(match[1]) * UNITS[match[2] as keyof typeof UNITS])
}

/**
 * A duration field: `base` (a number of milliseconds with its bounds), or a
 * string with a unit converted to milliseconds and checked against the same
 * bounds. Bad values name the field, e.g. `retry.initialDelay: must be
 * milliseconds or a duration such as "500ms", "5s", "2m", "1h"`.
 */
export function duration<T extends z.ZodNumber>(base: T) {
  return z.union([base, durationText.transform(parseDuration).pipe(base)], {
    error: (issue) => (issue.code === 'invalid_union' ? 'must be milliseconds or a duration such as "500ms", "5s", "2m", "1h"' : undefined),
  })
}
