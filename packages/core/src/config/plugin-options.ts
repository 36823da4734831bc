/**
 * Validating a plugin's factory options, the same way for every plugin.
 *
 * @packageDocumentation
 */
import type { z } from 'zod'
import { configErrorFrom } from './parse.js'

/**
 * Validate a plugin's options with its zod schema and fill in defaults.
 * Call it in the factory (`tcp(options)`), so a bad option fails there and
 * not at `start()`. Build `schema` from `z.strictObject` (nested objects
 * too), so a misspelt key is an error rather than silently ignored.
 * `undefined` stands for no options (`{}`).
 *
 * @param plugin - the factory's name, which prefixes every issue path
 * @throws ConfigError listing every problem, one issue per field, e.g.
 * `tcp.port: Too big: expected number to be <=65535` and `tcp.prot: Unknown option`
 */
export function parsePluginOptions<S extends z.ZodType>(plugin: string, schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input ?? {})
  if (result.success) return result.data
  throw configErrorFrom(`Invalid ${plugin}() options`, result.error, plugin)
}
