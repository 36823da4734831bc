/** The small pieces, in process: targets, the file protocol, inbox and sender (in-memory nodes), rendering, config files. */
import { createHash, randomBytes } from 'node:crypto'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readConfigFile } from '../src/config/file.js'
import { buildNodeConfig } from '../src/config/node-config.js'
import { contactOf, createTestNode, MemoryNetwork, memoryTransport, stopTestNodes, waitFor } from '@crust/core/testing'
import { sizeFlag } from '../src/args.js'
import { Inbox, type InboxOptions, type RefusedFile, type SavedFile } from '../src/files/inbox.js'
import { badFileName } from '../src/files/names.js'
import { answerSchema, encodeFrame, FILE_PROTOCOL, FrameReader, MAX_FRAME, resultSchema } from '../src/files/protocol.js'
import { sendFile } from '../src/files/sender.js'
import { parseTarget } from '../src/node/target.js'
import { renderBar } from '../src/render/progress.js'
import { renderTable } from '../src/render/table.js'
import { renderStatus } from '../src/serve/serve-reporter.js'
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
  afterEach(() => stopTestNodes())

  /** Bob (an inbox taking files from alice) and alice connected to him, on an in-memory network. */
  async function pair(dir: string, options: Partial<InboxOptions> = {}) {
    const network = new MemoryNetwork()
    const bob = await createTestNode([memoryTransport(network)], { listen: ['memory://bob:1'] })
    const alice = await createTestNode([memoryTransport(network)])
    await Promise.all([bob.start(), alice.start()])
    const saved: SavedFile[] = []
    const refused: RefusedFile[] = []
    const inbox = new Inbox({ dir, maxFileSize: 1024 * 1024 * 1024, allow: new Set([alice.peerId]), onSaved: (f) => saved.push(f), onRefused: (f) => refused.push(f), ...options })
    inbox.register(bob)
    const connection = await alice.connect(contactOf(bob))
    return { alice, bob, inbox, saved, refused, open: () => connection.openStream(FILE_PROTOCOL) }
  }

  it('streams a file, verifies its SHA-256 and saves it under its name', async () => {
    const dir = await tempDir()
    const { open, saved } = await pair(join(dir, 'inbox'))
    const file = randomBytes(2.5 * 1024 * 1024)
    await writeFile(join(dir, 'report.bin'), file)
    const sent = await sendFile(open, join(dir, 'report.bin'))
    expect(sent).toMatchObject({ name: 'report.bin', size: file.length, sha256: createHash('sha256').update(file).digest('hex'), savedAs: join(dir, 'inbox', 'report.bin'), attempts: 1 })
    expect((await readFile(join(dir, 'inbox', 'report.bin'))).equals(file)).toBe(true)
    expect(saved).toEqual([expect.objectContaining({ name: 'report.bin', size: file.length, resumedFrom: 0 })])
    expect(await readdir(join(dir, 'inbox'))).toEqual(['report.bin'])
  })

  it('refuses a file whose hash does not match, with a typed reason, and publishes nothing', async () => {
    const dir = await tempDir()
    const { open, refused } = await pair(dir)
    const stream = await open()
    const reader = new FrameReader(stream)
    const data = Buffer.from('not what the hash says')
    stream.write(encodeFrame({ name: 'x.txt', size: data.length, id: 'a'.repeat(32) }))
    expect(await reader.frame(answerSchema)).toEqual({ ok: true, offset: 0 })
    stream.end(Buffer.concat([data, Buffer.alloc(32)]))
    const result = await reader.frame(resultSchema)
    expect(result).toMatchObject({ ok: false, reason: 'hash-mismatch' })
    expect(refused).toEqual([expect.objectContaining({ reason: 'hash-mismatch', name: 'x.txt' })])
    expect(await readdir(dir)).toEqual([])
  })

  it('keeps a partial file when the stream is lost, and answers its length as the offset next time', async () => {
    const dir = await tempDir()
    const { open, saved } = await pair(dir)
    const file = randomBytes(300 * 1024)
    const offer = { name: 'part.bin', size: file.length, id: 'b'.repeat(32) }
    const first = await open()
    const reader = new FrameReader(first)
    first.write(encodeFrame(offer))
    expect(await reader.frame(answerSchema)).toEqual({ ok: true, offset: 0 })
    first.write(file.subarray(0, 100 * 1024))
    await waitFor(() => saved.length === 0 && first.connection.stats.bytesSent >= 100 * 1024)
    await new Promise((resolve) => setTimeout(resolve, 50))
    first.abort()
    const second = await open()
    const again = new FrameReader(second)
    second.write(encodeFrame(offer))
    const answer = await again.frame(answerSchema)
    expect(answer).toEqual({ ok: true, offset: 100 * 1024 })
    second.end(Buffer.concat([file.subarray(100 * 1024), createHash('sha256').update(file).digest()]))
    expect(await again.frame(resultSchema)).toMatchObject({ ok: true, path: join(dir, 'part.bin') })
    expect((await readFile(join(dir, 'part.bin'))).equals(file)).toBe(true)
    expect(saved).toEqual([expect.objectContaining({ resumedFrom: 100 * 1024 })])
  })

  it('reads frames split across chunks, and refuses oversized ones', async () => {
    async function* chunks(...parts: Uint8Array[]) {
      yield* parts
    }
    const frame = encodeFrame({ ok: true, offset: 7 })
    const reader = new FrameReader(chunks(frame.subarray(0, 1), frame.subarray(1, 5), Buffer.concat([frame.subarray(5), Buffer.from('rest')])))
    expect(await reader.frame(answerSchema)).toEqual({ ok: true, offset: 7 })
    const rest: Uint8Array[] = []
    for await (const chunk of reader.rest()) rest.push(chunk)
    expect(Buffer.concat(rest).toString()).toBe('rest')
    const big = Buffer.alloc(2)
    big.writeUInt16BE(MAX_FRAME + 1)
    await expect(new FrameReader(chunks(big)).frame(answerSchema)).rejects.toThrow(/exceeds/)
  })

  it('accepts plain names only', () => {
    for (const name of ['report.pdf', 'holiday photo (2).jpg', 'ünïcødé.txt']) expect(badFileName(name), name).toBeUndefined()
    for (const name of ['../x', 'a/b', 'a\\b', '/etc/passwd', 'C:evil', '..', '.', '.bashrc', 'a\u0000b', ' x', '']) {
      expect(badFileName(name), JSON.stringify(name)).toBeDefined()
    }
  })

  it('reads sizes for --max-file', () => {
    expect(sizeFlag('max-file', '2GiB', 0)).toBe(2 * 2 ** 30)
    expect(sizeFlag('max-file', '500MB', 0)).toBe(500e6)
    expect(sizeFlag('max-file', '1.5 KiB', 0)).toBe(1536)
    expect(sizeFlag('max-file', undefined, 9)).toBe(9)
    expect(() => sizeFlag('max-file', '2 parsecs', 0)).toThrow(/--max-file must be a size/)
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

describe('crust serve status', () => {
  it("shows what each service carried for others apart from the node's own traffic", () => {
    const lines = renderStatus({
      connections: 3,
      bytesIn: 0,
      bytesOut: 0,
      relay: { circuits: 1, relayedBytes: 3 * 1024 * 1024 },
      rendezvous: { registrations: 4, peers: 3, topics: 1, largestTopics: [{ topic: 't', registrations: 4 }], requests: 52, bytesIn: 2048, bytesOut: 10_240 },
    })
    expect(lines[0]).toBe('connections    3')
    expect(lines.find((l) => l.startsWith('relay'))).toBe('relay          1 circuit, 3.0 MiB relayed')
    expect(lines.find((l) => l.includes('requests answered'))?.trim()).toBe('52 requests answered, 2.0 KiB in, 10.0 KiB served')
    expect(lines.at(-1)).toMatch(/^own traffic +0 B in, 0 B out \(messages and streams to this node, not relayed or served\)$/)
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
