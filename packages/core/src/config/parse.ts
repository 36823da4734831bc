/**
 * Turning untrusted configuration input into a complete `NodeConfig`, and
 * the zod-issue → `ConfigError` translation every option parser shares.
 *
 * @packageDocumentation
 */
import type { z } from 'zod'
import { ConfigError } from '../errors.js'
import { type NodeConfig, nodeConfigSchema } from './schema.js'

/** One validation problem: the dotted path of the field (`''` for the whole config) and what is wrong. */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

/**
 * Validate `input` and fill in defaults.
 *
 * @throws `ConfigError` whose message lists every problem as `path: message`
 * (e.g. `connection.idleTimeout: Too small: expected number to be >=0`) and
 * whose `issues` holds them one by one.
 */
export function parseConfig(input: unknown): NodeConfig {
  const result = nodeConfigSchema.safeParse(input)
  if (result.success) return result.data
  throw configErrorFrom('Invalid node configuration', result.error)
}

/**
 * A `ConfigError` for a failed zod parse: every problem becomes one issue at
 * its dotted path, below `prefix` when given (a plugin's name), and the
 * message lists them after `heading`.
 */
export function configErrorFrom(heading: string, error: z.ZodError, prefix?: string): ConfigError {
  const issues = error.issues.flatMap((issue) => toConfigIssues(issue, prefix === undefined ? [] : [prefix]))
  const lines = issues.map((issue) => (issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`))
  return new ConfigError(`${heading}: ${lines.join('; ')}`, issues)
}

/** Unknown keys are reported one per key, at the key's own path, so the typo is named. */
function toConfigIssues(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: dotted([...prefix, ...issue.path, key]), message: 'Unknown option' }))
  }
  return [{ path: dotted([...prefix, ...issue.path]), message: issue.message }]
}

function dotted(path: readonly PropertyKey[]): string {
  return path.map(String).join('.')
}
