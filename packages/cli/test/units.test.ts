/** The small pieces, in process: targets, the file-transfer wire format and inbox, rendering, config files. */
import { createHash, randomBytes } from 'node:crypto'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readConfigFile } from '../src/config/file.js'
import { buildNodeConfig } from '../src/config/node-config.js'
import { Inbox, type SavedFile, safeName } from '../src/files/inbox.js'
import { type ChunkHeader, chunkCount, decodeChunk, encodeChunk, isChunk } from '../src/files/wire.js'
import { parseTarget } from '../src/node/target.js'
import { renderBar } from '../src/render/progress.js'
import { renderTable } from '../src/render/table.js'
import { tempDir } from './helpers.js'

const PEER = 'bciqkagz65fpjdf5s3km2gwycw7bzq43yvmkyfokmkjzl454atj5qabi'

describe('peer arguments', () => {
  it('reads peerId@addresses, bare addresses and id prefixes', () => {
    expect(parseTarget(`${PEER}@tcp://127.0.0.1:4001,quic://127.0.0.1:4001`)).toMatchObject({
      peerId: PEER,
      addresses: ['tcp://127.0.0.1:4001', 'quic://127.0.0.1:4001'],
    })
    expect(parseTarget('tcp://[::1]:4001')).toMatchObject({ addresses: ['tcp://[::1]:4001'] })
    expect(parseTarget('bciqkagz')).toMatchObject({ prefix: 'bciqkagz', addresses: [] })
    expect(() => parseTarget(`${PEER}@tcp://127.0.0.1`)).toThrow(/not an address/)
  })
})

describe('file transfer', () => {
  const file = randomBytes(2.5 * 1024 * 1024)
  const chunkSize = 1024 * 1024
  const header = {
    id: 'a1b2c3d4e5f60718',
    name: '../../etc/report.bin',
    size: file.length,
    sha256: createHash('sha256').update(file).digest('hex'),
    chunkSize,
    total: chunkCount(file.length, chunkSize),
  }
  const chunk = (index: number, h: Omit<ChunkHeader, 'index'> = header) =>
    encodeChunk({ ...h, index }, file.subarray(index * chunkSize, Math.min(file.length, (index + 1) * chunkSize)))

  it('round-trips a chunk and rejects a wrong length', () => {
    const message = chunk(1)
    expect(isChunk(message)).toBe(true)
    expect(isChunk(Buffer.from('hello'))).toBe(false)
    expect(decodeChunk(message).header.index).toBe(1)
    expect(decodeChunk(message).data.length).toBe(chunkSize)
    expect(() => decodeChunk(encodeChunk({ ...header, index: 2 }, Buffer.alloc(10)))).toThrow(/wrong length/)
  })

  it('reassembles chunks in any order, verifies the hash, and keeps the name inside the inbox', async () => {
    const dir = await tempDir()
    const saved: SavedFile[] = []
    const inbox = new Inbox(join(dir, 'inbox'), (f) => saved.push(f))
    const answers = await Promise.all([2, 0, 1].map((i) => inbox.receive(PEER, chunk(i))))
    const done = answers.find((a) => 'done' in a)
    expect(done).toEqual({ done: true, path: join(dir, 'inbox', 'report.bin'), sha256: header.sha256 })
    expect((await readFile(join(dir, 'inbox', 'report.bin'))).equals(file)).toBe(true)
    expect(saved).toEqual([expect.objectContaining({ peerId: PEER, name: header.name, size: file.length })])
    expect(await readdir(join(dir, 'inbox'))).toEqual(['report.bin'])
  })

  it('refuses a file whose hash does not match and leaves nothing behind', async () => {
    const dir = await tempDir()
    const inbox = new Inbox(dir, () => {})
    const wrong = { ...header, id: 'ffffffffffffffff', sha256: '0'.repeat(64) }
    await inbox.receive(PEER, chunk(0, wrong))
    await inbox.receive(PEER, chunk(1, wrong))
    await expect(inbox.receive(PEER, chunk(2, wrong))).rejects.toThrow(/SHA-256 mismatch/)
    expect(await readdir(dir)).toEqual([])
  })

  it('sanitises names', () => {
    expect(safeName('..\\..\\x.txt')).toBe('x.txt')
    expect(safeName('.bashrc')).toBe('_bashrc')
    expect(safeName('..')).toBe('file')
    expect(safeName('a\u0000b')).toBe('ab')
  })
})

describe('rendering', () => {
  it('aligns table columns, numbers to the right', () => {
    const lines = renderTable(
      [
        { header: 'NAME', cell: (r: { n: string; v: number }) => r.n },
        { header: 'VALUE', cell: (r) => String(r.v), right: true },
      ],
      [
        { n: 'a', v: 1 },
        { n: 'longer', v: 1234 },
      ],
    )
    expect(lines).toEqual(['NAME    VALUE', 'a           1', 'longer   1234'])
  })

  it('draws a progress bar', () => {
    expect(renderBar('sending x', 512 * 1024, 1024 * 1024, 1000, 10)).toBe('sending x [█████░░░░░]  50%  512.0 KiB/1.0 MiB  512.0 KiB/s')
  })
})

describe('config files', () => {
  it('maps plugin names and resolves paths against the file', async () => {
    const dir = await tempDir()
    const path = join(dir, 'node.json')
    await writeFile(
      path,
      JSON.stringify({
        networkName: 'n',
        transports: ['tcp', { quic: { port: 4001 } }],
        discovery: [{ beacon: { loopback: true } }],
        identity: { keyFile: 'keys/id.pem' },
      }),
    )
    const file = await readConfigFile('node.json', dir)
    expect(file.plugins.transports?.map((p) => [p.name, p.options])).toEqual([
      ['tcp', {}],
      ['quic', { port: 4001 }],
    ])
    expect(file.plugins.discovery?.map((p) => p.path)).toEqual(['discovery.0'])
    expect(file.plugins.services).toBeUndefined()
    expect(file.core).toEqual({ networkName: 'n', identity: { keyFile: join(dir, 'keys', 'id.pem') } })
  })

  it("leaves the transports' options to the transports, so every option they document is accepted", async () => {
    const dir = await tempDir()
    const options = {
      tcp: { port: 0, host: '127.0.0.1', backlog: 16, maxQueuedControlFrames: 1024 },
      quic: { port: 0, host: '127.0.0.1', retryTokenLifetime: 5000, maxPendingHandshakes: 64, dropSummaryInterval: 60_000 },
    }
    await writeFile(join(dir, 'node.json'), JSON.stringify({ networkName: 'n', transports: [{ tcp: options.tcp }, { quic: options.quic }] }))
    const file = await readConfigFile('node.json', dir)
    const { config } = await buildNodeConfig(file, { dataDir: dir })
    expect(config.transports).toHaveLength(2)
  })
})
