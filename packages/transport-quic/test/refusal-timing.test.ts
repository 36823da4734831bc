import { type Socket, createSocket } from 'node:dgram'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AuthenticationError,
  BlacklistedError,
  type CertificateAuthority,
  NetworkMismatchError,
  type NodeConfigInput,
  createCertificateAuthority,
  writeNodeCertificateFiles,
} from '@crust/core'
import { createTestNode, stopTestNodes } from '@crust/core/testing'
import type { CrustNode } from '@crust/core'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'
import './helpers.js' // fails a test on any unhandled rejection

/**
 * A loopback UDP relay in front of `target` that passes the dialler's
 * datagrams on at once and holds the listener's answers back by `delayMs`:
 * a slow return path (or a dialler too busy to read its socket), so a
 * refusal's CONNECTION_CLOSE arrives well after the dialler's side of the
 * QUIC handshake completed and its core handshake began.
 */
async function slowReturnPath(target: number, delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const front = createSocket('udp4')
  const back = createSocket('udp4')
  let client: { address: string; port: number } | undefined
  const timers = new Set<NodeJS.Timeout>()
  front.on('message', (data, from) => {
    client = { address: from.address, port: from.port }
    back.send(data, target, '127.0.0.1')
  })
  back.on('message', (data) => {
    const to = client
    if (to === undefined) return
    const timer = setTimeout(() => {
      timers.delete(timer)
      front.send(data, to.port, to.address)
    }, delayMs)
    timers.add(timer)
  })
  const bind = (socket: Socket) => new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  await Promise.all([bind(front), bind(back)])
  return {
    port: front.address().port,
    async close() {
      for (const timer of timers) clearTimeout(timer)
      await Promise.all([front, back].map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))))
    },
  }
}

const relays: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await stopTestNodes()
  await Promise.all(relays.splice(0).map((relay) => relay.close()))
})

describe('a refusal reaches the dialler typed, however late its close arrives', () => {
  let ca: CertificateAuthority
  let dir: string
  let certificates = 0
  const caAuth = async (): Promise<Partial<NodeConfigInput>> => {
    const files = await writeNodeCertificateFiles(ca, { dir, name: `node-${++certificates}` })
    return { auth: { mode: 'ca', ca: [ca.certificatePem], ...files } }
  }
  beforeAll(async () => {
    ca = await createCertificateAuthority({ name: 'Crust Refusal Timing CA' })
    dir = await mkdtemp(join(tmpdir(), 'crust-refusal-timing-'))
  })

  it('ca mode: a self-signed dialler whose refusal arrives 150 ms late gets AuthenticationError, not StreamResetError', { timeout: 20_000 }, async () => {
    const listener = await createTestNode([quic({ host: '127.0.0.1' })], await caAuth())
    const port = Number(new URL(listener.addresses.find((a) => a.startsWith('quic://127.0.0.1'))!.replace('quic:', 'http:')).port)
    const relay = await slowReturnPath(port, 150)
    relays.push(relay)
    const outsider = await createTestNode([quic({ host: '127.0.0.1' })], { auth: { mode: 'none' }, retry: { maxAttempts: 1 } })
    const started = performance.now()
    const error = await outsider.connect({ addresses: [`quic://127.0.0.1:${relay.port}`] }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(AuthenticationError)
    // Typed with the close itself, not after a wait for the connection to drain.
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  /** The listener's QUIC port on 127.0.0.1. */
  const portOf = (node: CrustNode): number =>
    Number(new URL(node.addresses.find((a) => a.startsWith('quic://127.0.0.1'))!.replace('quic:', 'http:')).port)

  /** Dial `listener` once through a return path 150 ms slow: what the dial rejects with. */
  async function dialSlowly(dialler: CrustNode, listener: CrustNode): Promise<unknown> {
    const relay = await slowReturnPath(portOf(listener), 150)
    relays.push(relay)
    return dialler.connect({ addresses: [`quic://127.0.0.1:${relay.port}`] }).then(
      () => undefined,
      (e: unknown) => e,
    )
  }

  it('another network: NetworkMismatchError, however late the close arrives', { timeout: 20_000 }, async () => {
    const listener = await createTestNode([quic({ host: '127.0.0.1' })], { networkName: 'other-net' })
    const dialler = await createTestNode([quic({ host: '127.0.0.1' })], { retry: { maxAttempts: 1 } })
    expect(await dialSlowly(dialler, listener)).toBeInstanceOf(NetworkMismatchError)
  })

  it('a blacklisted peer id: BlacklistedError, however late the close arrives', { timeout: 20_000 }, async () => {
    const dialler = await createTestNode([quic({ host: '127.0.0.1' })], { retry: { maxAttempts: 1 } })
    const listener = await createTestNode([quic({ host: '127.0.0.1' })], { blacklist: { peers: [dialler.peerId] } })
    expect(await dialSlowly(dialler, listener)).toBeInstanceOf(BlacklistedError)
  })
})
