/**
 * The example on loopback: peers find each other by beacon and a 4 MiB file
 * arrives whole; a name that is a path is refused; and the built
 * `file-share` program does the same in two processes.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CrustNode } from '@crust/core'
import { waitFor } from '@crust/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL, receiveInto, sendTo, startPeer } from '../src/file-share.js'

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
/** A beacon port apart from other runs on this host. */
const freshBeaconPort = (): number => 20_000 + Math.floor(Math.random() * 20_000)

describe('file-share example', () => {
  const nodes: CrustNode[] = []
  let dir: string
  let receiver: CrustNode
  let sender: CrustNode
  const saved: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-share-'))
    await mkdir(join(dir, 'inbox'))
    const beaconPort = freshBeaconPort()
    ;[receiver, sender] = await Promise.all([
      startPeer(beaconPort, (node) => receiveInto(node, join(dir, 'inbox'), (path) => saved.push(path))),
      startPeer(beaconPort),
    ])
    nodes.push(receiver, sender)
    await waitFor(() => sender.getConnection(receiver.peerId)?.remoteProtocols.includes(PROTOCOL) === true, 10_000, 'the sender to find the receiver')
  }, 30_000)

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    await rm(dir, { recursive: true, force: true })
  })

  it('finds the receiver by beacon and streams a file to it', async () => {
    const data = randomBytes(4 * 1024 * 1024)
    await writeFile(join(dir, 'photo.bin'), data)
    expect(await sendTo(sender, receiver.peerId, join(dir, 'photo.bin'))).toBe('saved photo.bin')
    expect(saved).toEqual([join(dir, 'inbox', 'photo.bin')])
    expect(sha256(await readFile(join(dir, 'inbox', 'photo.bin')))).toBe(sha256(data))
  })

  it('refuses a name that is a path', async () => {
    const stream = await sender.openStream(receiver.peerId, PROTOCOL)
    stream.end('../escaped.txt\nhello')
    await expect(async () => {
      for await (const _ of stream) {
      }
    }).rejects.toThrow(/reset/i)
    expect(await readdir(dir)).not.toContain('escaped.txt')
  })

  it('runs as a program: file-share receive, then file-share send', async () => {
    const main = fileURLToPath(new URL('../dist/main.js', import.meta.url))
    if (!existsSync(main)) throw new Error(`${main} is missing: build first with npx tsc -b tsconfig.json`)
    const beaconPort = String(freshBeaconPort())
    await mkdir(join(dir, 'program-inbox'))
    const receiving = spawn(process.execPath, [main, 'receive', join(dir, 'program-inbox'), '--beacon-port', beaconPort], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      let out = ''
      receiving.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
      await waitFor(() => out.includes('receiving into'), 10_000, 'the receiver to start')
      const data = randomBytes(1024 * 1024)
      await writeFile(join(dir, 'note.bin'), data)
      const sending = spawn(process.execPath, [main, 'send', join(dir, 'note.bin'), '--beacon-port', beaconPort], { stdio: ['ignore', 'pipe', 'inherit'] })
      let answer = ''
      sending.stdout.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk))
      const code = await new Promise((resolve) => sending.on('close', resolve))
      expect(code).toBe(0)
      expect(answer).toBe('saved note.bin\n')
      expect(sha256(await readFile(join(dir, 'program-inbox', 'note.bin')))).toBe(sha256(data))
    } finally {
      receiving.kill('SIGTERM')
    }
  })
})
