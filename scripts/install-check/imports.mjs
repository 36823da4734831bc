// Scenario: every publishable package installed together from its tarball.
// Imports each package's every export entry and runs each bin with --version.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const scope = join('node_modules', '@crust')

function manifestOf(dir) {
  return JSON.parse(readFileSync(join(scope, dir, 'package.json'), 'utf8'))
}

/** The importable specifiers of a package: `@crust/x`, `@crust/x/testing`, ... */
function entryPoints(manifest) {
  return Object.keys(manifest.exports ?? { '.': manifest.main })
    .filter((key) => !key.endsWith('.json') && !key.includes('*')) // subpath patterns name no one entry
    .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`))
}

async function checkPackage(manifest) {
  for (const specifier of entryPoints(manifest)) {
    const exports = Object.keys(await import(specifier))
    console.log(`  import '${specifier}': ${exports.length} exports`)
  }
  for (const bin of Object.keys(manifest.bin ?? {})) {
    const file = join('node_modules', '.bin', bin)
    if (!existsSync(file)) throw new Error(`bin ${bin} of ${manifest.name} is not linked`)
    const version = execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 20_000 }).trim()
    console.log(`  ${bin} --version: ${version}`)
  }
}

async function main() {
  for (const dir of readdirSync(scope)) await checkPackage(manifestOf(dir))
  console.log('  every package imports, bins run: ok')
}

main().catch((error) => {
  console.error('  import check failed:', error)
  process.exit(1)
})
