/**
 * Plugins named in a config file, and the factories they map to: `tcp` and
 * `quic` from their transport packages, `beacon` from
 * `@crust/discovery-beacon`, and services from `@crust/nat` by export name.
 * Packages are imported only when a config names them.
 *
 * @packageDocumentation
 */
import type { DiscoveryFactory, ServiceFactory, TransportFactory } from '@crust/core'
import { isCrustError } from '@crust/core'
import { errorMessage } from '@crust/core/plugin'
import type { Issue } from './issues.js'

/** The three plugin lists of a node config. */
export type PluginKind = 'transports' | 'discovery' | 'services'

/** The names each list accepts. */
export const PLUGIN_NAMES: Readonly<Record<PluginKind, readonly string[]>> = {
  transports: ['tcp', 'quic'],
  discovery: ['beacon'],
  services: ['upnp', 'pcp', 'stun', 'holePunch', 'relay', 'relayServer'],
}

/** One plugin as a config file names it: `"tcp"` or `{ "tcp": { "port": 4001 } }`. */
export interface PluginSpec {
  readonly kind: PluginKind
  readonly name: string
  readonly options: Readonly<Record<string, unknown>>
  /** Where it sits in the file, e.g. `transports.1`. */
  readonly path: string
}

/**
 * Read one entry of a plugin list; problems are pushed to `issues`.
 * Returns undefined when the entry is unusable. Its options are checked
 * later, by the plugin's own factory (see {@link createPlugins}).
 */
export function parsePluginEntry(kind: PluginKind, value: unknown, path: string, issues: Issue[]): PluginSpec | undefined {
  const known = PLUGIN_NAMES[kind]
  const example = known[0] ?? 'name'
  let name: string
  let options: Record<string, unknown> = {}
  if (typeof value === 'string') {
    name = value
  } else if (isPlainObject(value) && Object.keys(value).length === 1) {
    const [key, raw] = Object.entries(value)[0] as [string, unknown]
    name = key
    if (!isPlainObject(raw)) {
      issues.push({ path: `${path}.${key}`, message: `options must be an object, e.g. {"${key}": {}}` })
      return undefined
    }
    options = raw
  } else {
    issues.push({ path, message: `must be a plugin name such as "${example}" or an object with one key such as {"${example}": {...}}` })
    return undefined
  }
  if (!known.includes(name)) {
    issues.push({ path, message: `unknown ${singular(kind)} "${name}" (known: ${known.join(', ')})` })
    return undefined
  }
  return { kind, name, options, path }
}

/** The factories of a node's plugins. */
export interface PluginFactories {
  readonly transports: TransportFactory[]
  readonly discovery: DiscoveryFactory[]
  readonly services: ServiceFactory[]
}

/**
 * Import the packages `specs` name and call their factories. Options the
 * plugins reject are reported as issues at the spec's path.
 */
export async function createPlugins(specs: readonly PluginSpec[]): Promise<{ factories: PluginFactories; issues: Issue[] }> {
  const factories: PluginFactories = { transports: [], discovery: [], services: [] }
  const issues: Issue[] = []
  for (const spec of specs) {
    try {
      if (spec.kind === 'transports') factories.transports.push(await transportFactory(spec))
      else if (spec.kind === 'discovery') factories.discovery.push(await discoveryFactory(spec))
      else factories.services.push(await serviceFactory(spec))
    } catch (error) {
      issues.push(...pluginIssues(spec, error))
    }
  }
  return { factories, issues }
}

async function transportFactory(spec: PluginSpec): Promise<TransportFactory> {
  if (spec.name === 'tcp') return (await import('@crust/transport-tcp')).tcp(spec.options)
  return (await import('@crust/transport-quic')).quic(spec.options)
}

async function discoveryFactory(spec: PluginSpec): Promise<DiscoveryFactory> {
  return (await import('@crust/discovery-beacon')).beacon(spec.options)
}

async function serviceFactory(spec: PluginSpec): Promise<ServiceFactory> {
  const nat = (await import('@crust/nat')) as Record<string, unknown>
  const factory = nat[spec.name]
  if (typeof factory !== 'function') throw new Error(`@crust/nat has no "${spec.name}" plugin in this version`)
  return (factory as (options: unknown) => ServiceFactory)(spec.options)
}

/** A plugin's complaint about its options, placed at the spec's path (`discovery.0.beacon.port`). */
function pluginIssues(spec: PluginSpec, error: unknown): Issue[] {
  if (isCrustError(error, 'ERR_CONFIG') && error.issues.length > 0) {
    return error.issues.map((issue) => {
      const inner = issue.path.startsWith(`${spec.name}.`) || issue.path === spec.name ? issue.path : `${spec.name}.${issue.path}`
      return { path: `${spec.path}.${inner}`.replace(/\.$/, ''), message: issue.message }
    })
  }
  return [{ path: `${spec.path}.${spec.name}`, message: errorMessage(error) }]
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function singular(kind: PluginKind): string {
  return kind === 'transports' ? 'transport' : kind === 'discovery' ? 'discovery plugin' : 'service'
}
