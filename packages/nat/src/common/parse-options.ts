import { ConfigError } from '@crust/core'
import type { z } from 'zod'

/**
 * Validate a plugin's options with its zod schema; a `ConfigError` names
 * every bad field as `<plugin>.<field>`.
 */
export function parsePluginOptions<S extends z.ZodType>(plugin: string, schema: S, options: unknown): z.output<S> {
  const parsed = schema.safeParse(options ?? {})
  if (parsed.success) return parsed.data
  const issues = parsed.error.issues.map((issue) => ({
    path: [plugin, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }))
  throw new ConfigError(`Invalid ${plugin}() options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues)
}
