/**
 * Stateless reset (RFC 9000 §10.3) over a real, non-loopback path: a peer in
 * a network namespace (lab/veth.ts) is killed and restarted with the same
 * key file and port; the node that had dialled it learns at its next packet
 * that the connection is gone, instead of at its dead-path or idle timeout.
 * Needs root; skips loudly without it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CrustNode } from '@crust/core'
import { createTestNode, stopTestNodes } from '@crust/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'
import { VethPath, announceVethSkip, vethUnsupported } from './lab/veth.js'

const unsupported = vethUnsupported()
if (unsupported) announceVethSkip('QUIC stateless reset test over a veth pair', unsupported)

type CloseEvent = { peerId: string; code: number; reason: string; remote: boolean }

function nextClose(node: CrustNode, peerId: string): Promise<CloseEvent & { at: number }> {
  return new Promise((resolve) => {
    const listener = (event: CloseEvent): void => {
      if (event.peerId !== peerId) return
      node.off('connection:close', listener)
      resolve({ ...event, at: performance.now() })
    }
    node.on('connection:close', listener)
  })
}

describe.skipIf(unsupported !== undefined)('QUIC stateless reset over a veth path', () => {
  let path: VethPath
  let dir: string
  beforeAll(() => {
    path = VethPath.create(1500)
    dir = mkdtempSync(join(tmpdir(), 'crust-reset-'))
  })
  afterAll(() => {
    path?.destroy()
    rmSync(dir, { recursive: true, force: true })
  })
  afterEach(() => stopTestNodes())

  it('a peer restarted with the same key resets the connection at the first packet that reaches it', async () => {
    const identityFile = join(dir, 'peer.pem')
    const peer = await path.startPeer({ identityFile })
    const port = Number(new URL(peer.addresses[0]!.replace('quic://', 'http://')).port)
    const node = await createTestNode([quic({ host: path.hostIp })], { listen: [`quic://${path.hostIp}:0`] })
    const contact = { peerId: peer.peerId, addresses: peer.addresses }
    const connection = await node.connect(contact, { retry: false })
    expect(new TextDecoder().decode(await connection.request(new Uint8Array(0)))).toBe('answer')

    await peer.kill()
    const restarted = await path.startPeer({ identityFile, port })
    expect(restarted.peerId).toBe(peer.peerId)

    const closed = nextClose(node, peer.peerId)
    const sent = performance.now()
    const request = connection.request(new Uint8Array(0)).then(
      () => 'answered',
      (error: Error) => error.name,
    )
    const close = await closed
    const detection = close.at - sent
    console.log(`stateless reset: the connection to the restarted peer closed ${detection.toFixed(0)} ms after the next request (${close.reason})`)
    expect(close.reason).toMatch(/stateless reset/)
    expect(detection).toBeLessThan(1000)
    expect(await request).not.toBe('answered')
    // A fresh connection to the restarted peer works at once.
    const again = await node.connect(contact, { retry: false })
    expect(new TextDecoder().decode(await again.request(new Uint8Array(0)))).toBe('answer')
  }, 30_000)
})
