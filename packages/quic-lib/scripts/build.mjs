#!/usr/bin/env node
// Build @crust/quic-lib: copy the compiled library (dist/) of the workspace's
// installed @matrixai/quic 2.0.9 — which `pnpm install` has patched with
// patches/@matrixai__quic@2.0.9.patch (root package.json,
// pnpm.patchedDependencies) — into this package's dist/, after checking that
// the patch really is in it. Run by the root `pnpm build` (before `tsc -b`),
// and by `pnpm pack` / `pnpm publish` (prepack), so a tarball always carries
// the patched code. Nothing here runs when a user installs the package.
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const pkgRoot = join(here, '..')
const repoRoot = join(pkgRoot, '..', '..')
const UPSTREAM = '@matrixai/quic'
const VERSION = '2.0.9'
const PATCH = join(repoRoot, 'patches', `@matrixai__quic@${VERSION}.patch`)
/** Lines of the patched code that must be there (besides the `[crust patch]` markers). */
const MARKERS = {
  'dist/QUICConnection.js': ['recvSerial(f)', 'scheduleFlush(streams)', 'handleConnTimeout = () =>', "!== 'starting'"],
  'dist/QUICStream.js': ['connection.readableChunk ??='],
}

function fail(message) {
  console.error(`@crust/quic-lib build: ${message}`)
  process.exit(1)
}

// The installed upstream package (this package's devDependency; in the
// workspace pnpm resolves it to the patched copy).
let upstreamRoot
try {
  upstreamRoot = dirname(fileURLToPath(import.meta.resolve(`${UPSTREAM}/package.json`)))
} catch (error) {
  fail(`cannot resolve ${UPSTREAM} from ${pkgRoot} (run \`pnpm install\` in the workspace): ${error.message}`)
}
const upstream = JSON.parse(readFileSync(join(upstreamRoot, 'package.json'), 'utf8'))
if (upstream.version !== VERSION) fail(`${UPSTREAM} is ${upstream.version} at ${upstreamRoot}, expected ${VERSION}`)

// Our manifest must declare exactly what the library needs at run time.
const own = JSON.parse(readFileSync(join(pkgRoot, 'package.json'), 'utf8'))
for (const field of ['dependencies', 'optionalDependencies']) {
  const want = JSON.stringify(upstream[field] ?? {})
  const got = JSON.stringify(own[field] ?? {})
  if (want !== got) fail(`package.json ${field} must equal ${UPSTREAM}@${VERSION}'s: ${want}\n  got ${got}`)
}

// The patch must be applied: every `[crust patch]` comment the patch adds to
// a file is in the installed file, and so are the key changed lines.
if (!existsSync(PATCH)) fail(`${PATCH} does not exist`)
const expected = new Map()
let file
for (const line of readFileSync(PATCH, 'utf8').split('\n')) {
  if (line.startsWith('+++ b/')) file = line.slice('+++ b/'.length)
  else if (file && line.startsWith('+') && line.includes('[crust patch]')) expected.set(file, (expected.get(file) ?? 0) + 1)
}
if (expected.size === 0) fail(`${PATCH} adds no [crust patch] markers`)
for (const [name, count] of expected) {
  const text = readFileSync(join(upstreamRoot, name), 'utf8')
  const found = text.split('[crust patch]').length - 1
  if (found < count) fail(`${join(upstreamRoot, name)} has ${found} of the ${count} [crust patch] markers: the patch is not applied (is ${UPSTREAM} in the root package.json pnpm.patchedDependencies, and did \`pnpm install\` run?)`)
}
for (const [name, markers] of Object.entries(MARKERS)) {
  const text = readFileSync(join(upstreamRoot, name), 'utf8')
  for (const marker of markers) if (!text.includes(marker)) fail(`${join(upstreamRoot, name)} lacks ${JSON.stringify(marker)}: the patch is not applied`)
}

// Copy dist/ (JavaScript, declarations and the native loader in dist/native).
// Source maps are left out: they map the unpatched sources, which upstream
// does not ship either; the `sourceMappingURL` trailers go with them.
const source = join(upstreamRoot, 'dist')
const target = join(pkgRoot, 'dist')
rmSync(target, { recursive: true, force: true })
cpSync(source, target, { recursive: true, filter: (path) => !path.endsWith('.map') })
let files = 0
const walk = (dir) => {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) walk(path)
    else {
      files++
      if (path.endsWith('.js')) writeFileSync(path, readFileSync(path, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'))
    }
  }
}
walk(target)
// On stderr: `pnpm -s bench` promises exactly one JSON document on stdout.
console.error(`@crust/quic-lib: ${files} files from ${relative(repoRoot, upstreamRoot) || upstreamRoot}/dist (patched, checked) -> ${relative(repoRoot, target)}`)
