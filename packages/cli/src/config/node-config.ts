/**
 * The node configuration of a command: the config file (if any), then the
 * flags that override its common fields, then defaults, validated by the
 * core's `parseConfig`.
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { isPeerId, type NodeConfig, type NodeConfigInput, parseConfig, isCrustError } from '@crust/core'
import { parseAddress } from '@crust/core/plugin'
import { UsageError } from '../errors.js'
import type { ConfigFile } from './file.js'
import { formatIssues } from './issues.js'
import { createPlugins, PLUGIN_NAMES, type PluginKind, type PluginSpec } from './plugins.js'

/** Network name when neither the config nor `--network` gives one. */
export const DEFAULT_NETWORK = 'crust'

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const

/** Flags that override the config file. Paths are absolute. */
export interface NodeFlags {
  /** `--network` */
  readonly network?: string
  /** `--listen`, repeatable: replaces the file's `listen`. */
  readonly listen?: readonly string[]
  /** `--key-file` */
  readonly keyFile?: string
  /** `--create-key`: a `--key-file` that does not exist yet may be created (a new identity). */
  readonly createKey?: boolean
  /** `--contact peerId@address`, repeatable: added to the bootstrap contacts, and bootstrap runs at start. */
  readonly contacts?: readonly string[]
  /** `--log-level` */
  readonly logLevel?: string
  /** The data directory: default home of the key file and the bootstrap cache. */
  readonly dataDir: string
  /**
   * A short-lived client node (`crust ping`/`send` without a running node):
   * role `client`, a throw-away identity unless `keyFile` is given, no
   * bootstrap cache, and none of the file's discovery or service plugins.
   */
  readonly client?: boolean
  /** Transports to run when the config file names none (default: those of the listen addresses, or TCP and QUIC). */
  readonly transports?: readonly string[]
}

/** A validated node configuration and the input to create the node from. */
export interface BuiltConfig {
  /** Pass to `createNode`. */
  readonly input: NodeConfigInput
  /** The same, parsed, with every default. */
  readonly config: NodeConfig
}

/**
 * Merge file, flags and defaults, create the plugins and validate.
 *
 * @throws UsageError naming the flag or the field (and the file) that is wrong.
 */
export async function buildNodeConfig(file: ConfigFile | undefined, flags: NodeFlags): Promise<BuiltConfig> {
  checkFlags(flags)
  // A --key-file that is not there is more likely a typo than a wish for a new identity.
  if (flags.keyFile !== undefined && !flags.client && !flags.createKey && !existsSync(flags.keyFile)) {
    throw new UsageError(`--key-file ${flags.keyFile} does not exist; pass --create-key to create a new identity there (or crust keygen --out ${flags.keyFile})`)
  }
  const core: Record<string, unknown> = { ...(file?.core ?? {}) }
  if (flags.network !== undefined) core.networkName = flags.network
  if (core.networkName === undefined) core.networkName = DEFAULT_NETWORK
  if (flags.listen !== undefined && flags.listen.length > 0) core.listen = [...flags.listen]
  if (flags.logLevel !== undefined) core.logLevel = flags.logLevel
  // The core's default is `warn`; the CLI keeps stderr quiet so its own output stays readable.
  if (core.logLevel === undefined) core.logLevel = 'error'
  const identity = section(core, 'identity')
  if (flags.keyFile !== undefined) identity.keyFile = flags.keyFile
  if (identity.keyFile === undefined && !flags.client) identity.keyFile = join(flags.dataDir, 'identity.pem')
  const bootstrap = section(core, 'bootstrap')
  if (bootstrap.cacheDir === undefined) bootstrap.cacheDir = join(flags.dataDir, 'bootstrap')
  if (flags.client) {
    core.role = 'client'
    delete core.listen
    bootstrap.cache = false
    bootstrap.onStart = false
  }
  if (flags.contacts !== undefined && flags.contacts.length > 0) {
    const existing = Array.isArray(bootstrap.contacts) ? bootstrap.contacts : []
    bootstrap.contacts = [...existing, ...flags.contacts.map(contactOf)]
    if (bootstrap.onStart === undefined) bootstrap.onStart = true
  }

  const where = file ? `invalid config file ${file.path}` : 'invalid configuration'
  const transports = flags.transports ?? defaultTransports(core.listen)
  const specs = [
    ...pluginSpecs(file, 'transports', transports),
    ...(flags.client ? [] : [...pluginSpecs(file, 'discovery', []), ...pluginSpecs(file, 'services', [])]),
  ]
  const { factories, issues } = await createPlugins(specs)
  if (issues.length > 0) throw new UsageError(`${where}: ${formatIssues(issues)}`)
  const input = { ...core, ...factories } as NodeConfigInput
  try {
    return { input, config: parseConfig(input) }
  } catch (error) {
    if (isCrustError(error, 'ERR_CONFIG')) throw new UsageError(`${where}: ${formatIssues(error.issues)}`)
    throw error
  }
}

/** The file's list of `kind`, or the defaults when it has none. */
function pluginSpecs(file: ConfigFile | undefined, kind: PluginKind, defaults: readonly string[]): readonly PluginSpec[] {
  return file?.plugins[kind] ?? defaults.map((name, i) => ({ kind, name, options: {}, path: `${kind}.${i}` }))
}

/** Without configured transports: those the listen addresses name, or TCP and QUIC. */
function defaultTransports(listen: unknown): string[] {
  const named = Array.isArray(listen)
    ? listen.map((a) => (typeof a === 'string' ? parseAddress(a)?.transport : undefined)).filter((t): t is string => t !== undefined && PLUGIN_NAMES.transports.includes(t))
    : []
  return named.length > 0 ? [...new Set(named)] : ['tcp', 'quic']
}

/** A nested section of the config as a fresh object (left alone if it is not an object: the core reports that). */
function section(core: Record<string, unknown>, name: string): Record<string, unknown> {
  const value = core[name]
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) return {}
  const copy: Record<string, unknown> = { ...((value as Record<string, unknown> | undefined) ?? {}) }
  core[name] = copy
  return copy
}

function checkFlags(flags: NodeFlags): void {
  if (flags.network !== undefined && flags.network.trim() === '') throw new UsageError('--network must not be empty')
  for (const address of flags.listen ?? []) {
    if (parseAddress(address) === undefined) throw new UsageError(`--listen '${address}' is not an address such as tcp://0.0.0.0:4001 or quic://[::]:4001`)
  }
  for (const contact of flags.contacts ?? []) contactOf(contact)
  if (flags.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(flags.logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${flags.logLevel}'`)
  }
}

/** `peerId@address[,address]` as a bootstrap contact. */
function contactOf(text: string): { peerId: string; addresses: string[] } {
  const at = text.indexOf('@')
  const peerId = text.slice(0, at)
  const addresses = text
    .slice(at + 1)
    .split(',')
    .map((a) => a.trim())
  if (at <= 0 || !isPeerId(peerId) || addresses.some((a) => parseAddress(a) === undefined)) {
    throw new UsageError(`--contact '${text}' must be peerId@address, e.g. bciq…@tcp://203.0.113.5:4001`)
  }
  return { peerId, addresses }
}
