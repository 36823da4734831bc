/**
 * Reading a node config file: JSON, with the plugin lists in declarative
 * form and every other key passed to the core's config schema.
 *
 * ```json
 * {
 *   "networkName": "my-app",
 *   "transports": ["tcp", { "quic": { "port": 4001 } }],
 *   "discovery": [{ "beacon": { "autoConnect": true } }],
 *   "services": ["upnp", { "stun": { "servers": ["stun.example.org:3478"] } }],
 *   "listen": ["tcp://0.0.0.0:4001", "quic://[::]:4001"],
 *   "bootstrap": { "contacts": [{ "peerId": "bciq…", "addresses": ["tcp://203.0.113.5:4001"] }] }
 * }
 * ```
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { z } from 'zod'
import { errorMessage } from '@crust/core/plugin'
import { UsageError } from '../errors.js'
import { formatIssues, type Issue, zodIssues } from './issues.js'
import { type PluginKind, type PluginSpec, parsePluginEntry } from './plugins.js'

/** The top level of a config file: plugin lists checked here, the rest by the core. */
const fileSchema = z.looseObject({
  transports: z.array(z.unknown()).optional(),
  discovery: z.array(z.unknown()).optional(),
  services: z.array(z.unknown()).optional(),
})

/** A config file, read and checked. */
export interface ConfigFile {
  /** Absolute path of the file. */
  readonly path: string
  /** Plugins named in the file, in order; undefined for a list the file leaves out. */
  readonly plugins: Readonly<Partial<Record<PluginKind, readonly PluginSpec[]>>>
  /** Every other key, for the core's config schema, with relative paths resolved against the file's directory. */
  readonly core: Readonly<Record<string, unknown>>
}

/**
 * Read and check the config file at `path` (relative to `cwd`).
 *
 * @throws UsageError naming the file and each bad field.
 */
export async function readConfigFile(path: string, cwd: string): Promise<ConfigFile> {
  const absolute = resolve(cwd, path)
  let text: string
  try {
    text = await readFile(absolute, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new UsageError(`cannot read config file ${path}: ${code === 'ENOENT' ? 'no such file' : errorMessage(error)}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new UsageError(`invalid config file ${path}: not valid JSON (${jsonErrorAt(text, error)})`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UsageError(`invalid config file ${path}: must be a JSON object such as {"networkName": "my-app"}`)
  }
  const parsed = fileSchema.safeParse(json)
  if (!parsed.success) throw new UsageError(`invalid config file ${path}: ${formatIssues(zodIssues(parsed.error, ''))}`)
  const { transports, discovery, services, ...core } = parsed.data
  const issues: Issue[] = []
  const plugins: Partial<Record<PluginKind, PluginSpec[]>> = {}
  const lists: Array<[PluginKind, unknown[] | undefined]> = [
    ['transports', transports],
    ['discovery', discovery],
    ['services', services],
  ]
  for (const [kind, list] of lists) {
    if (list === undefined) continue
    plugins[kind] = list.flatMap((entry, i) => parsePluginEntry(kind, entry, `${kind}.${i}`, issues) ?? [])
  }
  if (issues.length > 0) throw new UsageError(`invalid config file ${path}: ${formatIssues(issues)}`)
  return { path: absolute, plugins, core: resolvePaths(core, dirname(absolute)) }
}

/** Resolve the file paths a config may hold against the config file's directory, so it works from any cwd. */
function resolvePaths(core: Record<string, unknown>, base: string): Record<string, unknown> {
  const file = (value: unknown): unknown => (typeof value === 'string' && value !== '' && !isAbsolute(value) ? resolve(base, value) : value)
  const pemOrFile = (value: unknown): unknown => (typeof value === 'string' && value.includes('-----BEGIN') ? value : file(value))
  const section = (name: string, keys: readonly string[]): void => {
    const value = core[name]
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    for (const key of keys) if (key in copy) copy[key] = file(copy[key])
    if (name === 'auth' && Array.isArray(copy.ca)) copy.ca = copy.ca.map(pemOrFile)
    core[name] = copy
  }
  section('identity', ['keyFile'])
  section('bootstrap', ['cacheDir'])
  section('auth', ['certFile', 'keyFile'])
  return core
}

/** The JSON parser's complaint, with a line and column instead of a byte position. */
function jsonErrorAt(text: string, error: unknown): string {
  const message = errorMessage(error).split('\n')[0] ?? ''
  const position = /position (\d+)/.exec(message)
  if (!position) return message
  const offset = Number(position[1])
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  const column = offset - before.lastIndexOf('\n')
  return `${message.replace(/\s*in JSON at position \d+.*$/, '')} at line ${line}, column ${column}`
}
