#!/usr/bin/env node
// Build @crust/quic-lib, the one place where Crust changes @matrixai/quic:
//
// 1. copy the compiled library (dist/) of the workspace's installed, pristine
//    @matrixai/quic 2.0.9 (this package's devDependency) and apply
//    patches/@matrixai__quic@2.0.9.patch to it (JavaScript and declarations:
//    every hook the transport uses is declared in the .d.ts);
// 2. vendor @matrixai/events, @matrixai/async-locks, @matrixai/contexts,
//    @matrixai/async-cancellable and @matrixai/timer (each with its patches/ file) and
//    @matrixai/async-init (whose StartStop/CreateDestroy decorators apply the
//    events' `Evented`) into dist/vendor/, and point the library's imports
//    (and the copies') at those copies, so their fixes ship with the package;
// 3. check that every `[crust patch]` marker is there.
//
// Run by the root `pnpm build` (before `tsc -b`) and by `prepack`, so a
// tarball always carries exactly what the workspace tests and benchmarks.
// Nothing here runs when a user installs the package.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const pkgRoot = join(here, '..')
const repoRoot = join(pkgRoot, '..', '..')
const UPSTREAM = '@matrixai/quic'
const VERSION = '2.0.9'
/** Packages copied into dist/vendor/<name>, with the patch applied to each (if any). */
const VENDORED = {
  '@matrixai/events': { version: '4.0.1', dir: 'events' },
  '@matrixai/async-init': { version: '2.1.2', dir: 'async-init' },
  '@matrixai/async-locks': { version: '5.0.2', dir: 'async-locks' },
  '@matrixai/contexts': { version: '2.0.2', dir: 'contexts' },
  '@matrixai/async-cancellable': { version: '2.0.1', dir: 'async-cancellable' },
  '@matrixai/timer': { version: '2.1.1', dir: 'timer' },
}
/** An import of a vendored package by name: `from '@matrixai/<name>'`. */
const vendoredImport = new RegExp(`from '(${Object.keys(VENDORED).join('|')})'`, 'g')
/** Lines of the patched code that must be there (besides the `[crust patch]` markers). */
const MARKERS = {
  'dist/QUICConnection.js': ['recvSerial(f)', 'scheduleFlush(streams)', 'handleConnTimeout = () =>', "!== 'starting'", 'this.onRecv?.(processed)', 'this._certDERs ??='],
  'dist/QUICStream.js': ['connection.readableChunk ??= utils.scratch(', 'return readableP.then(() => (this._readClosed ? undefined : this.readablePull()), () => { });'],
  'dist/utils.js': ['function scratch(size)'],
  'dist/config.js': ['tlsConfigs.get(tlsKey)', 'setStatelessResetToken(config.statelessResetToken ?? null)'],
  'dist/QUICSocket.js': ['handleSocketDatagram = (data, remoteInfo) =>', 'getConnection(connectionId)'],
  'dist/QUICServer.js': ['this.acceptGate({ remoteInfo, header, dcid, data }', 'config: Object.assign({}, this.config, configOverride)'],
  'dist/native/quiche.js': ['function loadQuiche()'],
  'dist/vendor/events/Evented.js': ['[crust patch]'],
  'dist/vendor/events/utils.js': ['sharedOptions.get('],
  'dist/vendor/async-locks/Semaphore.js': ['task.aborted = true;'],
  'dist/vendor/async-locks/RWLockWriter.js': ['this.readersRelease = undefined;'],
  'dist/vendor/async-locks/utils.js': ['abortController.abort(new errorTimeoutConstructor())'],
  'dist/vendor/contexts/functions/timedCancellable.js': ['abortController.abort(new errorTimeoutConstructor())', 'timer.cancel(callEnded)'],
  'dist/vendor/async-cancellable/PromiseCancellable.js': ['else if (executor.length < 3) {', 'get abortController() {'],
  'dist/vendor/timer/Timer.js': ['// [crust patch] No interval (see the constructor).'],
}

function fail(message) {
  console.error(`@crust/quic-lib build: ${message}`)
  process.exit(1)
}

/** Root directory of an installed package, resolved from this package. */
function installed(name, version) {
  let root
  try {
    root = dirname(fileURLToPath(import.meta.resolve(`${name}/package.json`)))
  } catch (error) {
    fail(`cannot resolve ${name} from ${pkgRoot} (run \`pnpm install\` in the workspace): ${error.message}`)
  }
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  if (manifest.version !== version) fail(`${name} is ${manifest.version} at ${root}, expected ${version}`)
  return { root, manifest }
}

/** Apply `patch` (paths a/dist/…) to a copy of `from`/dist in a temp dir; returns the patched dist. */
function patched(from, patch, work) {
  const root = mkdtempSync(join(work, 'pkg-'))
  cpSync(join(from, 'dist'), join(root, 'dist'), { recursive: true, filter: (path) => !path.endsWith('.map') })
  if (patch !== undefined) {
    if (!existsSync(patch)) fail(`${patch} does not exist`)
    // Outside any git repository, `git apply` is a strict `patch -p1` (no fuzz).
    try {
      execFileSync('git', ['apply', '-p1', patch], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] })
    } catch (error) {
      fail(`${relative(repoRoot, patch)} does not apply to ${from}: ${error.stderr ?? error.message}`)
    }
  }
  return join(root, 'dist')
}

/** `[crust patch]` markers each file of `patch` adds. */
function markersOf(patch) {
  const expected = new Map()
  let file
  for (const line of readFileSync(patch, 'utf8').split('\n')) {
    if (line.startsWith('+++ b/')) file = line.slice('+++ b/'.length)
    else if (file && line.startsWith('+') && line.includes('[crust patch]')) expected.set(file, (expected.get(file) ?? 0) + 1)
  }
  return expected
}

function files(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

const upstream = installed(UPSTREAM, VERSION)
if (existsSync(join(upstream.root, 'dist', 'QUICSocket.js')) && readFileSync(join(upstream.root, 'dist', 'QUICConnection.js'), 'utf8').includes('[crust patch]')) {
  fail(`${upstream.root} is already patched: the workspace's ${UPSTREAM} must be the published one (no pnpm patchedDependencies)`)
}

// Our manifest must declare exactly what the library needs at run time (the
// vendored packages stay listed: their own dependencies come from there).
const own = JSON.parse(readFileSync(join(pkgRoot, 'package.json'), 'utf8'))
for (const field of ['dependencies', 'optionalDependencies']) {
  const want = JSON.stringify(upstream.manifest[field] ?? {})
  const got = JSON.stringify(own[field] ?? {})
  if (want !== got) fail(`package.json ${field} must equal ${UPSTREAM}@${VERSION}'s: ${want}\n  got ${got}`)
}

const work = mkdtempSync(join(tmpdir(), 'crust-quic-lib-'))
const target = join(pkgRoot, 'dist')
try {
  const quicPatch = join(pkgRoot, 'patches', `@matrixai__quic@${VERSION}.patch`)
  rmSync(target, { recursive: true, force: true })
  cpSync(patched(upstream.root, quicPatch, work), target, { recursive: true })
  const checks = [[quicPatch, target]]
  for (const [name, { version, dir }] of Object.entries(VENDORED)) {
    const { root } = installed(name, version)
    const patch = join(pkgRoot, 'patches', `${name.replace('/', '__')}@${version}.patch`)
    const vendorDir = join(target, 'vendor', dir)
    cpSync(patched(root, existsSync(patch) ? patch : undefined, work), vendorDir, { recursive: true })
    if (existsSync(patch)) checks.push([patch, vendorDir])
  }

  // Point the library (and the vendored copies) at the vendored copies. Only
  // JavaScript: the declarations keep naming the real packages, whose types
  // are the same.
  for (const path of files(target)) {
    if (!path.endsWith('.js')) continue
    let text = readFileSync(path, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n')
    text = text.replace(vendoredImport, (_, name) => {
      let spec = relative(dirname(path), join(target, 'vendor', VENDORED[name].dir, 'index.js')).replaceAll('\\', '/')
      if (!spec.startsWith('.')) spec = `./${spec}`
      return `from '${spec}' /* [crust vendored] ${name} */`
    })
    writeFileSync(path, text)
  }

  // Every `[crust patch]` marker of each patch is in the built file, and so are the key changed lines.
  for (const [patch, dist] of checks) {
    const expected = markersOf(patch)
    if (expected.size === 0) fail(`${patch} adds no [crust patch] markers`)
    for (const [name, count] of expected) {
      const path = join(dist, relative('dist', name))
      const found = readFileSync(path, 'utf8').split('[crust patch]').length - 1
      if (found < count) fail(`${path} has ${found} of the ${count} [crust patch] markers of ${relative(repoRoot, patch)}`)
    }
  }
  for (const [name, markers] of Object.entries(MARKERS)) {
    const text = readFileSync(join(pkgRoot, name), 'utf8')
    for (const marker of markers) if (!text.includes(marker)) fail(`${name} lacks ${JSON.stringify(marker)}: the patch is not applied`)
  }
  for (const path of files(target)) {
    if (path.endsWith('.js') && readFileSync(path, 'utf8').match(vendoredImport) !== null) fail(`${path} still imports a vendored package by name`)
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
// On stderr: `pnpm -s bench` promises exactly one JSON document on stdout.
console.error(
  `@crust/quic-lib: ${relative(repoRoot, upstream.root) || upstream.root}/dist + ${relative(repoRoot, join(pkgRoot, 'patches'))} (+ vendored ${Object.keys(VENDORED).join(', ')}) -> ${relative(repoRoot, target)}`,
)
