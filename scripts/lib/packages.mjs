// Shared by check-packages.mjs and pack-install-check.mjs: the publishable
// packages, packing them with pnpm, temporary directories and child processes.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

/** Every package published to npm (examples/*, tools/* and bench are private). */
export const PUBLISHABLE_DIRS = [
  'packages/core',
  'packages/mux',
  'packages/transport-tcp',
  'packages/quic-lib',
  'packages/transport-quic',
  'packages/discovery-beacon',
  'packages/discovery-rendezvous',
  'packages/nat',
  'packages/cli',
]

/** A publishable package: its directory, parsed package.json and name. */
export function readPackage(dir) {
  const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'))
  return { dir, name: manifest.name, manifest }
}

/** The publishable packages. */
export function publishablePackages() {
  return PUBLISHABLE_DIRS.map(readPackage)
}

/** The `bin` files of a package that do not exist (not built yet). */
export function missingBins(pkg) {
  const bins = typeof pkg.manifest.bin === 'string' ? [pkg.manifest.bin] : Object.values(pkg.manifest.bin ?? {})
  return bins.filter((file) => !existsSync(join(ROOT, pkg.dir, file)))
}

/** Throw unless the package's main entry was built. */
export function assertBuilt(pkg) {
  const main = join(ROOT, pkg.dir, pkg.manifest.main ?? 'dist/index.js')
  if (!existsSync(main)) throw new Error(`${pkg.name}: ${main} does not exist; run \`pnpm build\` first`)
}

/** Print one step of a check. */
export function step(text) {
  console.log(`\n▶ ${text}`)
}

/**
 * The environment for child processes, without the npm_* and pnpm variables a
 * `pnpm run` sets (they would leak pnpm's settings into npm).
 */
export function cleanEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm|pnpm)_/i.test(key)))
  return { ...env, ...extra }
}

/**
 * Run a command and capture its output. Never throws for a non-zero exit;
 * the caller reads `status`.
 */
export function run(command, args, options = {}) {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: cleanEnv(),
    ...options,
  })
  if (result.error) throw result.error
  return { status: result.status ?? 1, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() }
}

/** Run a command and throw with its output when it fails. */
export function runOrThrow(command, args, options = {}) {
  const result = run(command, args, options)
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status}):\n${result.output}`)
  return result.output
}

/** How to call the pnpm that runs this script (`pnpm run` sets npm_execpath), else `npx -y pnpm@10`. */
export function pnpmCommand() {
  const execPath = process.env.npm_execpath
  if (execPath && /pnpm\.c?js$/.test(basename(execPath))) return [process.execPath, [execPath]]
  return ['npx', ['-y', 'pnpm@10']]
}

/**
 * `pnpm pack` a package into `destination` (pnpm rewrites `workspace:^`
 * dependencies to versions). Returns the tarball's path.
 */
export function packPackage(pkg, destination) {
  const [command, prefix] = pnpmCommand()
  const before = new Set(readdirSync(destination))
  runOrThrow(command, [...prefix, 'pack', '--pack-destination', destination], {
    cwd: join(ROOT, pkg.dir),
    env: cleanEnv({ COREPACK_INTEGRITY_KEYS: '0' }),
  })
  const created = readdirSync(destination).filter((file) => file.endsWith('.tgz') && !before.has(file))
  if (created.length !== 1) throw new Error(`${pkg.name}: pnpm pack created ${created.length} tarballs in ${destination}`)
  return join(destination, created[0])
}

/** Run `fn(dir)` with a fresh directory in the OS temp dir, removed afterwards (also on failure). */
export async function withTempDir(prefix, fn) {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`))
  try {
    return await fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
    console.log(`  removed ${dir}`)
  }
}
