// Scenario: every publishable package installed together from its tarball.
// Imports each package's every export entry and checks each bin is linked.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const scope = join('node_modules', '@crust')

function manifestOf(dir) {
  return JSON.parse(readFileSync(join(scope, dir, 'package.json'), 'utf8'))
}

/** The importable specifiers of a package: `@crust/x`, `@crust/x/testing`, ... */
function entryPoints(manifest) {
  return Object.keys(manifest.exports ?? { '.': manifest.main })
    .filter((key) => !key.endsWith('.json'))
    .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`))
}

async function checkPackage(manifest) {
  for (const specifier of entryPoints(manifest)) {
    const exports = Object.keys(await import(specifier))
    console.log(`  import '${specifier}': ${exports.length} exports`)
  }
  for (const bin of Object.keys(manifest.bin ?? {})) {
    if (!existsSync(join('node_modules', '.bin', bin))) throw new Error(`bin ${bin} of ${manifest.name} is not linked`)
    console.log(`  bin '${bin}' is linked`)
  }
}

async function main() {
  for (const dir of readdirSync(scope)) await checkPackage(manifestOf(dir))
  console.log('  every package imports: ok')
}

main().catch((error) => {
  console.error('  import check failed:', error)
  process.exit(1)
})
