/**
 * Files through the real `crust` binary: `crust send --file` from a
 * short-lived client node (alice's key) to a `crust start --inbox` (bob):
 * the hash matches; a peer not --allow'ed, a file over --max-file and a path
 * for a name are refused with their reasons; a node without --inbox takes no
 * files; a connection cut mid-file, and a receiver killed mid-file and
 * restarted, are retried and resumed from the receiver's partial file.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket, connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crust, StartedNode, tempDir } from './helpers.js'

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
const MiB = 1024 * 1024

/** JSON lines of a run's stdout. */
const jsonLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe('crust send --file to crust start --inbox', () => {
  let dir: string
  let inbox: string
  let bob: StartedNode
  let bobContact: string
  let aliceKey: string
  let alicePeerId: string

  beforeAll(async () => {
    dir = await tempDir()
    inbox = join(dir, 'inbox')
    aliceKey = join(dir, 'alice.pem')
    const key = await crust(['keygen', '--out', aliceKey, '--json'])
    alicePeerId = (JSON.parse(key.stdout) as { peerId: string }).peerId
    bob = await StartedNode.start([
      '--listen',
      'tcp://127.0.0.1:0',
      '--data-dir',
      join(dir, 'bob'),
      '--control',
      join(dir, 'bob.sock'),
      '--inbox',
      inbox,
      '--allow',
      alicePeerId,
      '--max-file',
      '8MiB',
    ])
    bobContact = `${bob.ready.peerId}@${bob.ready.addresses[0]}`
  })

  afterAll(async () => {
    await bob?.stop('SIGKILL')
  })

  const send = (args: readonly string[], key = aliceKey) => crust(['send', '--direct', '--key-file', key, '--json', ...args])

  it('announces the inbox, its limit and who may send', () => {
    expect(bob.ready).toMatchObject({ inbox, maxFile: 8 * MiB, allow: [alicePeerId] })
  })

  it('sends a file of a few MiB that the receiver saves with the same SHA-256', async () => {
    const data = randomBytes(3 * MiB)
    const path = join(dir, 'three.bin')
    await writeFile(path, data)
    const run = await send([bobContact, '--file', path])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const lines = jsonLines(run.stdout)
    expect(lines.filter((l) => l.type === 'progress').at(-1)).toEqual({ type: 'progress', sent: data.length, total: data.length })
    const saved = join(inbox, 'three.bin')
    expect(lines.at(-1)).toMatchObject({ type: 'file', name: 'three.bin', size: data.length, sha256: sha256(data), savedAs: saved, attempts: 1, resumedFrom: 0 })
    expect(await bob.waitFor((l) => l.event === 'file' && l.name === 'three.bin')).toMatchObject({ peerId: alicePeerId, sha256: sha256(data), path: saved })
    expect(sha256(await readFile(saved))).toBe(sha256(data))
    // Sent again: saved beside it, never over it.
    const again = await send([bobContact, `@${path}`])
    expect(again.code).toBe(0)
    expect(jsonLines(again.stdout).at(-1)).toMatchObject({ savedAs: join(inbox, 'three (1).bin') })
  })

  it('refuses a peer that is not allowed, naming the reason', async () => {
    const path = join(dir, 'small.txt')
    await writeFile(path, 'hello')
    const stranger = join(dir, 'stranger.pem')
    await crust(['keygen', '--out', stranger])
    const run = await send([bobContact, '--file', path], stranger)
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^crust send: the receiver refused the file \(not-allowed\): peer bciq\w+ is not allowed to send files here/)
    await bob.waitFor((l) => l.event === 'file:refused' && l.reason === 'not-allowed')
  })

  it('refuses a file over --max-file before any byte of it is sent', async () => {
    const path = join(dir, 'huge.bin')
    await writeFile(path, '')
    await truncate(path, 9 * MiB) // sparse: the refusal comes from the offer alone
    const run = await send([bobContact, '--file', path])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/\(too-large\): huge\.bin is 9437184 bytes, more than the 8388608 bytes this inbox takes \(--max-file\)/)
    expect((await readdir(inbox)).filter((n) => n.startsWith('huge'))).toEqual([])
  })

  it('refuses a name that is a path (no traversal out of the inbox)', async () => {
    const path = join(dir, 'evil.txt')
    await writeFile(path, 'pwned')
    for (const name of ['../evil.txt', '/tmp/evil.txt', '..', '.bashrc']) {
      const run = await send([bobContact, '--file', path, '--name', name])
      expect(run.code, name).toBe(1)
      expect(run.stderr, name).toMatch(/\(bad-name\): refused the name/)
    }
    expect((await readdir(dir)).includes('evil.txt')).toBe(true) // only the sender's own copy
    expect((await readdir(inbox)).some((n) => n.includes('evil') || n.includes('bashrc'))).toBe(false)
  })

  it('resumes from the receiver partial file after the connection is cut mid-file', async () => {
    const data = randomBytes(6 * MiB)
    const path = join(dir, 'resumed.bin')
    await writeFile(path, data)
    const port = Number(new URL(bob.ready.addresses[0] as string).port)
    const proxy = await cuttingProxy(port, 3 * MiB)
    try {
      const run = await send([`${bob.ready.peerId}@tcp://127.0.0.1:${proxy.port}`, '--file', path])
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      const lines = jsonLines(run.stdout)
      expect(lines.some((l) => l.type === 'retry')).toBe(true)
      const summary = lines.at(-1) as { attempts: number; resumedFrom: number; sha256: string }
      expect(summary.attempts).toBeGreaterThanOrEqual(2)
      expect(summary.resumedFrom).toBeGreaterThan(0)
      expect(summary.resumedFrom).toBeLessThanOrEqual(3 * MiB)
      expect(summary.sha256).toBe(sha256(data))
      const event = await bob.waitFor((l) => l.event === 'file' && l.name === 'resumed.bin')
      expect(event.resumedFrom).toBe(summary.resumedFrom)
      expect(sha256(await readFile(join(inbox, 'resumed.bin')))).toBe(sha256(data))
      expect((await readdir(inbox)).filter((n) => n.endsWith('.part'))).toEqual([])
    } finally {
      proxy.close()
    }
  })
})

describe('a receiver killed mid-file and restarted', () => {
  it('keeps its partial file, and the sender resumes from it once the receiver is back', async () => {
    const dir = await tempDir()
    const inbox = join(dir, 'inbox')
    const aliceKey = join(dir, 'alice.pem')
    const alicePeerId = (JSON.parse((await crust(['keygen', '--out', aliceKey, '--json'])).stdout) as { peerId: string }).peerId
    // Bob's identity exists before he starts: the restarted bob must be the same peer (start never makes a key unasked).
    await crust(['keygen', '--out', join(dir, 'bob.pem')])
    const bobArgs = (listen: string) => [
      ...['--listen', listen, '--key-file', join(dir, 'bob.pem'), '--data-dir', join(dir, 'bob'), '--control', join(dir, 'bob.sock')],
      ...['--inbox', inbox, '--allow', alicePeerId],
    ]
    const bob = await StartedNode.start(bobArgs('tcp://127.0.0.1:0'))
    const port = Number(new URL(bob.ready.addresses[0] as string).port)
    const data = randomBytes(6 * MiB)
    const path = join(dir, 'restart.bin')
    await writeFile(path, data)
    // The first connection stalls after 2 MiB, so bob is killed with a partial file mid-transfer.
    const proxy = await cuttingProxy(port, 2 * MiB, 'hold')
    try {
      const sending = crust(['send', '--direct', '--key-file', aliceKey, '--json', `${bob.ready.peerId}@tcp://127.0.0.1:${proxy.port}`, '--file', path])
      const partial = async () => {
        const names = await readdir(inbox).catch(() => [] as string[])
        const part = names.find((n) => n.endsWith('.part'))
        return part === undefined ? 0 : (await stat(join(inbox, part))).size
      }
      const deadline = Date.now() + 10_000
      while ((await partial()) < MiB && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(await bob.stop('SIGKILL')).toBe(null)
      const kept = await partial()
      expect(kept).toBeGreaterThanOrEqual(MiB)
      const again = await StartedNode.start(bobArgs(`tcp://127.0.0.1:${port}`))
      expect(again.ready.peerId).toBe(bob.ready.peerId)
      proxy.cut() // the stalled connection goes; the sender's retry dials through the proxy anew
      const run = await sending
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      const summary = jsonLines(run.stdout).at(-1) as { attempts: number; resumedFrom: number; sha256: string; savedAs: string }
      expect(summary.attempts).toBeGreaterThanOrEqual(2)
      expect(summary.resumedFrom).toBe(kept)
      expect(summary.sha256).toBe(sha256(data))
      expect(sha256(await readFile(summary.savedAs))).toBe(sha256(data))
      await again.stop('SIGKILL')
    } finally {
      proxy.close()
    }
  })
})

describe('a node without --inbox', () => {
  it('takes no files: the sender is told the peer does not', async () => {
    const dir = await tempDir()
    const node = await StartedNode.start(['--listen', 'tcp://127.0.0.1:0', '--data-dir', dir, '--control', join(dir, 'c.sock')])
    expect(node.ready.inbox).toBeUndefined()
    const path = join(dir, 'a.txt')
    await writeFile(path, 'hi')
    const run = await crust(['send', '--direct', `${node.ready.peerId}@${node.ready.addresses[0]}`, '--file', path])
    expect(run.code).toBe(1)
    expect(run.stderr).toBe('crust send: the peer does not take files (/crust/file/1): it is not a crust start with --inbox\n')
  })

  it('rejects --allow without --inbox, and a bad --max-file, as usage errors', async () => {
    const bad = await crust(['start', '--allow', 'bciqnot'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--allow 'bciqnot' is not a peer id/)
    const size = await crust(['start', '--inbox', '/tmp/x', '--max-file', 'lots'])
    expect(size.code).toBe(2)
    expect(size.stderr).toMatch(/--max-file must be a size such as 500MB or 2GiB, got 'lots'/)
  })
})

/**
 * A TCP proxy to 127.0.0.1:`target` whose first connection is cut (both
 * sockets destroyed) or held (nothing more forwarded upstream) once `after`
 * bytes went upstream; later connections pass untouched. `cut()` ends the
 * connections open now, `close()` the proxy.
 */
async function cuttingProxy(target: number, after: number, mode: 'cut' | 'hold' = 'cut'): Promise<{ port: number; cut(): void; close(): void }> {
  let first = true
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    sockets.add(client).add(upstream)
    const cut = first
    first = false
    let forwarded = 0
    client.on('data', (chunk: Buffer) => {
      forwarded += chunk.length
      if (cut && forwarded > after) {
        if (mode === 'hold') return client.pause()
        client.destroy()
        upstream.destroy()
        return
      }
      if (!upstream.write(chunk)) client.pause()
    })
    upstream.on('drain', () => client.resume())
    upstream.pipe(client)
    for (const s of [client, upstream]) {
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
      s.on('close', () => {
        sockets.delete(s)
        client.destroy()
        upstream.destroy()
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy has no port')
  return {
    port: address.port,
    cut() {
      for (const s of sockets) s.destroy()
    },
    close() {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}
