import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { BootstrapCache, defaultCachePath } from '../../src/bootstrap/bootstrap-cache.js'
import { parseConfig } from '../../src/config/parse.js'
import { readCacheFile, writeCacheFile } from '../../src/bootstrap/cache-file.js'
import { type Logger, createLogger } from '../../src/logger.js'

const network = 'a'.repeat(64)

function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  const logger: Logger & { lines: string[] } = {
    lines,
    debug: () => {},
    info: () => {},
    warn: (m) => lines.push(m),
    error: (m) => lines.push(m),
    child: () => logger,
  }
  return logger
}

function cacheAt(path: string | undefined, exclude: string[] = [], logger: Logger = createLogger('silent')): BootstrapCache {
  return new BootstrapCache({ path, network, size: 200, maxFailures: 3, exclude: () => new Set(exclude), logger })
}

describe('bootstrap cache', () => {
  it('keeps exactly the 200 most recent nodes, most recent first, across a reload', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'crust-cache-')), 'cache.json')
    const cache = cacheAt(path)
    for (let i = 0; i < 250; i++) cache.add({ peerId: `bciqpeer${i}`, addresses: [`tcp://10.0.0.${i % 250}:4001`] })
    cache.add({ peerId: 'bciqpeer100', addresses: ['tcp://10.0.1.1:4001'] }) // seen again: most recent now
    expect(cache.size).toBe(200)
    await cache.flush()
    const reloaded = cacheAt(path)
    await reloaded.load()
    const ids = reloaded.list().map((e) => e.peerId)
    expect(ids).toHaveLength(200)
    expect(ids[0]).toBe('bciqpeer100')
    expect(ids).toContain('bciqpeer249')
    expect(ids).not.toContain('bciqpeer49') // among the 50 oldest, pushed out
    expect(ids).toContain('bciqpeer51')
  })

  it('keeps at most 4 addresses per node (newest verified first) and 4 nodes per IP', () => {
    const cache = cacheAt(undefined)
    for (let i = 0; i < 6; i++) cache.add({ peerId: 'bciqone', addresses: [`tcp://10.0.0.${i}:1`] })
    expect(cache.list()[0]?.addresses).toEqual(['tcp://10.0.0.5:1', 'tcp://10.0.0.4:1', 'tcp://10.0.0.3:1', 'tcp://10.0.0.2:1'])
    for (let i = 0; i < 6; i++) cache.add({ peerId: `bciqsybil${i}`, addresses: [`tcp://10.9.9.9:${i}`] })
    expect(cache.list().filter((e) => e.peerId.startsWith('bciqsybil')).map((e) => e.peerId)).toEqual([
      'bciqsybil5',
      'bciqsybil4',
      'bciqsybil3',
      'bciqsybil2',
    ])
  })

  it('when full, evicts nodes that only connected to us before nodes we dialled', () => {
    const cache = new BootstrapCache({ path: undefined, network, size: 4, maxFailures: 3, exclude: () => new Set(), logger: createLogger('silent') })
    cache.add({ peerId: 'bciqgenuine1', addresses: ['tcp://10.0.0.1:1'], origin: 'dialled' })
    cache.add({ peerId: 'bciqgenuine2', addresses: ['tcp://10.0.0.2:1'], origin: 'dialled' })
    for (let i = 0; i < 20; i++) cache.add({ peerId: `bciqinbound${i}`, addresses: [`tcp://10.1.0.${i}:1`], origin: 'verified' })
    const ids = cache.list().map((e) => e.peerId)
    expect(ids).toHaveLength(4)
    expect(ids).toContain('bciqgenuine1')
    expect(ids).toContain('bciqgenuine2')
  })

  it('never caches excluded peers (hard-coded contacts, ourselves)', () => {
    const cache = cacheAt(undefined, ['bciqcontact'])
    cache.add({ peerId: 'bciqcontact', addresses: ['tcp://10.0.0.1:1'] })
    cache.add({ peerId: 'bciqother', addresses: ['tcp://10.0.0.2:1'] })
    expect(cache.list().map((e) => e.peerId)).toEqual(['bciqother'])
  })

  it('evicts a node after repeated failures', () => {
    const cache = cacheAt(undefined)
    cache.add({ peerId: 'bciqflaky', addresses: ['tcp://10.0.0.1:1'] })
    cache.fail('bciqflaky')
    cache.fail('bciqflaky')
    expect(cache.size).toBe(1)
    cache.fail('bciqflaky')
    expect(cache.size).toBe(0)
  })

  it('writes in batches, not once per change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-cache-'))
    const path = join(dir, 'cache.json')
    const cache = cacheAt(path)
    cache.add({ peerId: 'bciqone', addresses: ['tcp://10.0.0.1:1'] })
    expect(readdirSync(dir)).toEqual([]) // not yet written
    await cache.flush()
    expect(await readCacheFile(path, network, createLogger('silent'))).toHaveLength(1)
  })

  it.each([
    ['not JSON', '{"version":1,"peers":[{'],
    ['a wrong shape', JSON.stringify({ version: 1, network, peers: [{ peerId: 42 }] })],
    ['another network', JSON.stringify({ version: 1, network: 'b'.repeat(64), peers: [] })],
  ])('moves a corrupt file (%s) aside with a warning and starts empty', async (_what, content) => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-cache-'))
    const path = join(dir, 'cache.json')
    writeFileSync(path, content)
    const logger = capturingLogger()
    const cache = cacheAt(path, [], logger)
    await cache.load()
    expect(cache.size).toBe(0)
    expect(readdirSync(dir).some((f) => f.startsWith('cache.json.corrupt-'))).toBe(true)
    expect(logger.lines.join('\n')).toMatch(/moved it to/)
  })

  it('survives a process killed while writing: the file is always the old or the new one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-cache-'))
    const path = join(dir, 'cache.json')
    await writeCacheFile(path, network, [{ peerId: 'bciqfirst', addresses: ['tcp://10.0.0.1:1'], lastSeen: 1, failures: 0, origin: 'dialled' }])
    const writer = fileURLToPath(new URL('./fixtures/cache-writer.ts', import.meta.url))
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', writer, path, network], { stdio: ['ignore', 'pipe', 'inherit'] })
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 80))
      child.kill('SIGKILL') // mid-batch, most likely mid-write
      await new Promise((resolve) => child.once('exit', resolve))
      const logger = capturingLogger()
      const peers = await readCacheFile(path, network, logger)
      expect(logger.lines).toEqual([]) // never corrupt
      expect(peers.length === 1 || peers.length === 200).toBe(true)
    }
  })
})

describe('bootstrap cache shared by processes', () => {
  it('two processes writing one cache file at once lose none of each other\'s nodes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-cache-'))
    const path = join(dir, 'shared.json')
    const adder = fileURLToPath(new URL('./fixtures/cache-adder.ts', import.meta.url))
    const count = 40
    const children = ['alice', 'bob'].map((name, index) =>
      spawn(process.execPath, ['--import', 'tsx', adder, path, network, name, String(index + 1), String(count)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    )
    await Promise.all(children.map((child) => new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()))))
    for (const child of children) child.stdin?.write('go\n')
    const codes = await Promise.all(children.map((child) => new Promise<number | null>((resolve) => child.once('exit', resolve))))
    expect(codes).toEqual([0, 0])
    const logger = capturingLogger()
    const peers = await readCacheFile(path, network, logger)
    expect(logger.lines).toEqual([])
    const ids = new Set(peers.map((peer) => peer.peerId))
    for (const name of ['alice', 'bob']) {
      for (let i = 0; i < count; i++) expect(ids.has(`bciq${name}${i}`), `bciq${name}${i}`).toBe(true)
    }
    expect(peers).toHaveLength(2 * count)
    expect(readdirSync(dir).sort()).toEqual(['shared.json']) // no lock or temporary file left behind
  }, 30_000)

  it('a merge keeps what this process removed out, and takes in what another process saw more recently', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-cache-'))
    const path = join(dir, 'cache.json')
    const mine = cacheAt(path)
    mine.add({ peerId: 'bciqgone', addresses: ['tcp://10.0.0.1:1'] })
    mine.add({ peerId: 'bciqkept', addresses: ['tcp://10.0.0.2:1'] })
    await mine.flush()
    const other = cacheAt(path)
    await other.load()
    other.add({ peerId: 'bciqnew', addresses: ['tcp://10.0.0.3:1'] })
    await other.flush()
    mine.remove('bciqgone')
    await mine.flush()
    expect((await readCacheFile(path, network, createLogger('silent'))).map((p) => p.peerId).sort()).toEqual(['bciqkept', 'bciqnew'])
    expect(mine.list().map((p) => p.peerId).sort()).toEqual(['bciqkept', 'bciqnew'])
  })
})

describe('defaultCachePath', () => {
  it('is one file per network under the data directory, and per application with cacheName', () => {
    const hash = 'b'.repeat(64)
    expect(defaultCachePath(hash, '/data')).toBe(join('/data', `bootstrap-cache-${'b'.repeat(16)}.json`))
    expect(defaultCachePath(hash, '/data', 'chat-app')).toBe(join('/data', `bootstrap-cache-chat-app-${'b'.repeat(16)}.json`))
    expect(defaultCachePath(hash)).toContain(join('crust', 'bootstrap'))
  })

  it('cacheName is validated by the config schema, naming the field', () => {
    expect(() => parseConfig({ networkName: 'n', transports: [], bootstrap: { cacheName: '../escape' } })).toThrow(/bootstrap\.cacheName/)
    expect(parseConfig({ networkName: 'n', transports: [], bootstrap: { cacheName: 'chat.v2' } }).bootstrap.cacheName).toBe('chat.v2')
  })
})
