#!/usr/bin/env node
// `pnpm check:packages`: lint what npm would get. Each publishable package is
// packed with `pnpm pack` (as `pnpm publish` would), then checked with publint
// (package.json fields against the tarball's files; warnings count as errors)
// and @arethetypeswrong/cli with its default profile: types resolve for node10,
// node16 CommonJS, node16 ESM and bundlers. The packages are ESM; their export
// maps' `default` condition lets CommonJS `require()` them on Node >= 20.19
// (require(esm)), so attw checks what CommonJS users get too. One rule is
// ignored: cjs-resolves-to-esm, because attw resolves with TypeScript 5.6's
// node16 rules, which predate require(esm) (TypeScript >= 5.8 and Node >= 20.19
// accept it). `pnpm check:install` proves that part for real: a CommonJS project
// require()s every package and a CommonJS TypeScript project type-checks and
// runs. Assumes `pnpm build` ran.
import { join } from 'node:path'
import { ROOT, assertBuilt, missingBins, packPackage, publishablePackages, run, step, withTempDir } from './lib/packages.mjs'

const BIN = join(ROOT, 'node_modules', '.bin')

/** publint on a tarball; warnings are errors (`--strict`), suggestions are only printed. */
function publint(tarball) {
  return run(join(BIN, 'publint'), ['run', tarball, '--strict'])
}

/** attw on a tarball, every resolution mode (CommonJS included; see above for the one rule ignored). */
function attw(tarball) {
  return run(join(BIN, 'attw'), [tarball, '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'table-flipped', '--no-emoji', '--no-color'])
}

/** Why a package cannot be checked yet, or undefined. */
function skipReason(pkg) {
  const missing = missingBins(pkg)
  if (missing.length === 0) return undefined
  return `${missing.map((file) => `${pkg.dir}/${file.replace(/^\.\//, '')}`).join(', ')} (bin) does not exist yet; build it, then rerun`
}

/** Pack one package and run both tools on it; returns its summary row. */
function checkPackage(pkg, packDir) {
  step(`${pkg.name}: pnpm pack, publint, attw`)
  assertBuilt(pkg)
  const tarball = packPackage(pkg, packDir)
  const results = { publint: publint(tarball), attw: attw(tarball) }
  for (const [tool, result] of Object.entries(results)) {
    console.log(`  ${tool}: ${result.status === 0 ? 'ok' : 'FAILED'}`)
    if (result.status !== 0 || /suggestion|warning/i.test(result.output)) console.log(indent(result.output))
  }
  const failed = Object.keys(results).filter((tool) => results[tool].status !== 0)
  return { name: pkg.name, status: failed.length === 0 ? 'ok' : `FAILED (${failed.join(', ')})` }
}

function indent(text) {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')
}

function printSummary(rows) {
  console.log('\ncheck:packages summary')
  const width = Math.max(...rows.map((row) => row.name.length))
  for (const row of rows) console.log(`  ${row.name.padEnd(width)}  ${row.status}`)
}

async function main() {
  const rows = await withTempDir('crust-check-packages', async (packDir) =>
    publishablePackages().map((pkg) => {
      const reason = skipReason(pkg)
      if (!reason) return checkPackage(pkg, packDir)
      step(`${pkg.name}: SKIPPED, ${reason}`)
      return { name: pkg.name, status: `SKIPPED: ${reason}` }
    }),
  )
  printSummary(rows)
  if (rows.some((row) => row.status.startsWith('FAILED'))) {
    console.error('\ncheck:packages: some packages are not publishable as they are (see above)')
    process.exitCode = 1
  }
}

main().catch((error) => {
  console.error(`check:packages failed: ${error.stack ?? error}`)
  process.exitCode = 1
})
