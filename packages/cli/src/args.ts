/**
 * Flag parsing on top of `node:util` `parseArgs`, turning its errors into
 * one-line usage errors that point at the command's help.
 *
 * @packageDocumentation
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { errorMessage } from '@crust/core/plugin'
import { UsageError } from './errors.js'

/** The parsed flags and positionals of a `parseArgs` config. */
export type Parsed<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>

/**
 * Parse `config.args` for `command` strictly (unknown flags and missing
 * values are errors), positionals allowed.
 *
 * @throws UsageError naming the bad flag.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(command: string, config: T): Parsed<T> {
  try {
    // Strict (the default) so unknown flags are errors; positionals are checked by each command.
    return parseArgs({ ...config, allowPositionals: true } as T)
  } catch (error) {
    throw new UsageError(`${describeParseError(error)} (see crust ${command} --help)`)
  }
}

/** The first sentence of a parseArgs error, in lower case (its advice about `--` does not apply here). */
function describeParseError(error: unknown): string {
  const message = errorMessage(error)
  const first = message.split(/\.\s/)[0] ?? message
  return first.charAt(0).toLowerCase() + first.slice(1).replace(/\.$/, '')
}

/** Check the number of positionals. */
export function expectPositionals(command: string, positionals: readonly string[], names: readonly string[], optional = 0): void {
  const required = names.length - optional
  if (positionals.length < required) {
    const missing = names.slice(positionals.length, required).map((n) => `<${n}>`)
    throw new UsageError(`missing ${missing.join(' ')} (see crust ${command} --help)`)
  }
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument '${positionals[names.length]}' (see crust ${command} --help)`)
  }
}

/**
 * An integer flag within bounds.
 *
 * @throws UsageError naming the flag.
 */
export function intFlag(flag: string, value: string | undefined, fallback: number, bounds: { min: number; max?: number }): number {
  if (value === undefined) return fallback
  const number = Number(value)
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number) || number < bounds.min || number > max) {
    const range = bounds.max === undefined ? `at least ${bounds.min}` : `from ${bounds.min} to ${bounds.max}`
    throw new UsageError(`--${flag} must be a whole number ${range}, got '${value}'`)
  }
  return number
}

/**
 * A duration flag in milliseconds: `500`, `500ms`, `2s`, `1.5s`.
 *
 * @throws UsageError naming the flag.
 */
export function durationFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim())
  if (!match) throw new UsageError(`--${flag} must be a duration such as 500ms or 2s, got '${value}'`)
  const amount = Number(match[1])
  return Math.round(match[2] === 's' ? amount * 1000 : amount)
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 2 ** 10, m: 1e6, mb: 1e6, mib: 2 ** 20, g: 1e9, gb: 1e9, gib: 2 ** 30, t: 1e12, tb: 1e12, tib: 2 ** 40 }

/**
 * A size flag in bytes: `1048576`, `500MB`, `2GiB`, `1.5 GiB`.
 *
 * @throws UsageError naming the flag.
 */
export function sizeFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim())
  const unit = match === null ? undefined : SIZE_UNITS[(match[2] ?? '').toLowerCase()]
  const bytes = match === null || unit === undefined ? Number.NaN : Math.floor(Number(match[1]) * unit)
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`--${flag} must be a size such as 500MB or 2GiB, got '${value}'`)
  return bytes
}
