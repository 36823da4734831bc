#!/usr/bin/env node
// `pnpm check:install`: install the packages as a user would and run them.
// Each publishable package is packed with `pnpm pack`; each scenario then gets
// a fresh project in the OS temp dir (outside the workspace) that
// `npm install`s only the tarballs it needs (third-party dependencies come
// from the npm registry) and runs small scripts from scripts/install-check/.
// One project is CommonJS: it require()s every package (Node >= 20.19), and a
// strict NodeNext TypeScript project in it type-checks, compiles to require()
// calls and runs.
// Builds nothing: run `pnpm build` first. Temp dirs are removed, also on failure.
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, assertBuilt, missingBins, packPackage, publishablePackages, run, runOrThrow, step, withTempDir } from './lib/packages.mjs'

const SCENARIO_DIR = join(ROOT, 'scripts', 'install-check')

/** The workspace's version range of a dev dependency, so the CommonJS project type-checks with the same TypeScript. */
function workspaceRange(name) {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies[name]
}

/**
 * What each scenario installs (their @crust dependencies are added) and runs:
 * `scripts`, each run with node in order; `tsc` (optional) type-checks and
 * compiles with the given tsconfig before them.
 */
function scenarios(packages) {
  const installable = packages.filter((pkg) => missingBins(pkg).length === 0).map((pkg) => pkg.name)
  return [
    { title: 'core + TCP', packages: ['@crust/core', '@crust/transport-tcp'], scripts: ['tcp.mjs'] },
    {
      title: 'core + QUIC + beacon',
      packages: ['@crust/core', '@crust/transport-quic', '@crust/discovery-beacon'],
      scripts: ['quic-beacon.mjs'],
    },
    { title: 'every package imports, bins run', packages: installable, scripts: ['imports.mjs'] },
    {
      title: 'CommonJS: require() + TypeScript',
      packages: installable,
      type: 'commonjs',
      devDependencies: { typescript: workspaceRange('typescript'), '@types/node': workspaceRange('@types/node') },
      tsc: 'tsconfig.cjs.json',
      scripts: ['cjs-require.cjs', 'cjs-out/cjs-app.js'],
    },
    {
      title: 'core + TCP + rendezvous',
      packages: ['@crust/core', '@crust/transport-tcp', '@crust/discovery-rendezvous'],
      scripts: ['tcp-rendezvous.mjs'],
    },
  ]
}

/**
 * `names` plus every @crust package they depend on, transitively. Peer
 * dependencies count: the plugins take @crust/core as a peer, so the project
 * installs it alongside them (one copy for the app and every plugin).
 */
function withCrustDependencies(names, byName) {
  const all = new Set()
  const visit = (name) => {
    if (all.has(name)) return
    all.add(name)
    const { dependencies = {}, peerDependencies = {} } = byName.get(name).manifest
    for (const dep of Object.keys({ ...dependencies, ...peerDependencies })) if (dep.startsWith('@crust/')) visit(dep)
  }
  for (const name of names) visit(name)
  return [...all].sort()
}

/** Pack every package that a scenario installs; returns name -> tarball. */
function packAll(packages, packDir) {
  const tarballs = new Map()
  for (const pkg of packages) {
    assertBuilt(pkg)
    tarballs.set(pkg.name, packPackage(pkg, packDir))
    console.log(`  ${pkg.name} -> ${tarballs.get(pkg.name)}`)
  }
  return tarballs
}

/**
 * A project depending on the tarballs only. The overrides pin every @crust
 * package, also when needed as a dependency, to its tarball, never the registry.
 */
function writeProject(dir, names, tarballs, scenario) {
  const deps = Object.fromEntries(names.map((name) => [name, `file:${tarballs.get(name)}`]))
  const manifest = {
    name: 'crust-install-check',
    private: true,
    type: scenario.type ?? 'module',
    dependencies: deps,
    devDependencies: scenario.devDependencies ?? {},
    overrides: deps,
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  for (const file of readdirSync(SCENARIO_DIR)) cpSync(join(SCENARIO_DIR, file), join(dir, file))
}

function npmInstall(dir) {
  runOrThrow('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir })
}

/** Throw unless exactly `names` are installed under @crust, each once and from its tarball. */
function assertInstalledFromTarballs(dir, names) {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'))
  const installed = Object.entries(lock.packages)
    .filter(([path]) => /(^|\/)node_modules\/@crust\//.test(path))
    .map(([path, entry]) => ({ name: path.slice(path.lastIndexOf('@crust/')), resolved: entry.resolved ?? '' }))
  const fromElsewhere = installed.filter((entry) => !entry.resolved.startsWith('file:'))
  if (fromElsewhere.length > 0) throw new Error(`not installed from a tarball: ${fromElsewhere.map((e) => `${e.name} (${e.resolved})`).join(', ')}`)
  const got = [...new Set(installed.map((entry) => entry.name))].sort()
  if (got.join() !== names.join()) throw new Error(`installed @crust packages ${got.join(', ')}, expected ${names.join(', ')}`)
  const copies = got.filter((name) => installed.filter((entry) => entry.name === name).length > 1)
  if (copies.length > 0) throw new Error(`installed more than once (one copy each expected): ${copies.join(', ')}`)
  console.log(`  installed from tarballs, one copy each: ${got.join(', ')}`)
}

/**
 * @crust/transport-quic runs on @crust/quic-lib, @matrixai/quic with Crust's
 * changes (packages/quic-lib/patches) built in: throw unless the installed
 * copy carries them (the events fix included) and the unpatched
 * @matrixai/quic was not installed beside it.
 * Returns what was checked, or undefined when the scenario has no QUIC.
 */
function assertQuicPatched(dir) {
  const lib = join(dir, 'node_modules', '@crust', 'quic-lib')
  if (!existsSync(lib)) return undefined
  const connection = readFileSync(join(lib, 'dist', 'QUICConnection.js'), 'utf8')
  for (const marker of ['[crust patch]', 'scheduleFlush(streams)']) {
    if (!connection.includes(marker)) throw new Error(`@crust/quic-lib as installed lacks ${JSON.stringify(marker)}: it is not patched`)
  }
  // The events fix ships too, as the vendored copy the library imports.
  if (!readFileSync(join(lib, 'dist', 'vendor', 'events', 'Evented.js'), 'utf8').includes('[crust patch]')) {
    throw new Error('@crust/quic-lib as installed lacks its patched copy of @matrixai/events')
  }
  if (existsSync(join(dir, 'node_modules', '@matrixai', 'quic'))) throw new Error('@matrixai/quic (unpatched) was installed too')
  return '@crust/quic-lib as installed carries the crust patch and its patched @matrixai/events; @matrixai/quic is not installed'
}

function runScript(dir, script) {
  const result = run(process.execPath, [script], { cwd: dir, stdio: 'inherit', timeout: 60_000 })
  if (result.status !== 0) throw new Error(`${script} failed (exit ${result.status})`)
}

/** Type-check and compile the project with its own TypeScript. */
function typeCheck(dir, tsconfig) {
  const output = runOrThrow(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', tsconfig], { cwd: dir })
  console.log(`  tsc -p ${tsconfig}: no errors${output ? `\n${output}` : ''}`)
}

/** Install a scenario's tarballs into a fresh project and run its script; returns its summary row. */
async function runScenario(scenario, tarballs, byName) {
  const started = Date.now()
  const names = withCrustDependencies(scenario.packages, byName)
  step(`${scenario.title}: fresh project with ${names.join(', ')}`)
  let checked
  try {
    await withTempDir('crust-install-check', async (dir) => {
      writeProject(dir, names, tarballs, scenario)
      console.log(`  npm install in ${dir}`)
      npmInstall(dir)
      assertInstalledFromTarballs(dir, names)
      checked = assertQuicPatched(dir)
      if (checked) console.log(`  ${checked}`)
      if (scenario.tsc) typeCheck(dir, scenario.tsc)
      for (const script of scenario.scripts) {
        console.log(`  node ${script}`)
        runScript(dir, script)
      }
    })
    return { title: scenario.title, status: 'ok', seconds: (Date.now() - started) / 1000, checked }
  } catch (error) {
    console.error(`  ${scenario.title} FAILED: ${error.message}`)
    return { title: scenario.title, status: 'FAILED', seconds: (Date.now() - started) / 1000, checked }
  }
}

function printSummary(rows, skipped) {
  console.log('\ncheck:install summary')
  const width = Math.max(...rows.map((row) => row.title.length))
  for (const row of rows) {
    console.log(`  ${row.title.padEnd(width)}  ${row.status} (${row.seconds.toFixed(1)} s)`)
    if (row.checked) console.log(`  ${''.padEnd(width)}  ${row.checked}`)
  }
  for (const pkg of skipped) console.log(`  SKIPPED ${pkg.name}: ${missingBins(pkg).join(', ')} (bin) does not exist yet; build it, then rerun`)
}

async function main() {
  const packages = publishablePackages()
  const byName = new Map(packages.map((pkg) => [pkg.name, pkg]))
  const skipped = packages.filter((pkg) => missingBins(pkg).length > 0)
  const rows = await withTempDir('crust-install-tarballs', async (packDir) => {
    step(`pnpm pack into ${packDir}`)
    const tarballs = packAll(
      packages.filter((pkg) => !skipped.includes(pkg)),
      packDir,
    )
    const results = []
    for (const scenario of scenarios(packages)) results.push(await runScenario(scenario, tarballs, byName))
    return results
  })
  printSummary(rows, skipped)
  if (rows.some((row) => row.status !== 'ok')) {
    console.error('\ncheck:install: the packages do not work when installed from their tarballs (see above)')
    process.exitCode = 1
  }
}

main().catch((error) => {
  console.error(`check:install failed: ${error.stack ?? error}`)
  process.exitCode = 1
})
