/**
 * A kept peer held over QUIC that vanishes without a word (its path goes
 * silent) and comes back with the same key at an address the keeper knows,
 * while its old QUIC address stays dead (a restart behind a port-mapping
 * router with a new local port: the router still forwards the keeper's QUIC
 * packets to the dead run). The keeper's attempt beside the silent
 * connection dials QUIC into the dead path until its dial timeout; the quick
 * checks that run beside it must find the peer at its TCP address soon after
 * it is back, not when that attempt gives up. Real QUIC and TCP on loopback,
 * a UDP proxy for the path that dies.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CrustNode, type NodeEvents, createNode } from '@crust/core'
import { pathProxy } from '@crust/core/testing'
import { tcp } from '@crust/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'

const nodes: CrustNode[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

async function startNode(options: { keyFile?: string; tcpPort?: number } = {}): Promise<CrustNode> {
  const node = await createNode({
    networkName: 'keep-restart',
    transports: [tcp({ host: '127.0.0.1', port: options.tcpPort ?? 0 }), quic({ host: '127.0.0.1' })],
    logLevel: 'error',
    bootstrap: { cache: false },
    ...(options.keyFile === undefined ? {} : { identity: { keyFile: options.keyFile } }),
  })
  nodes.push(node)
  await node.start()
  return node
}

const portOf = (address: string | undefined): number => Number(new URL(address ?? '').port)

describe('a kept peer back at another address than the one that went silent', () => {
  it('is reconnected within 1.5 s of its return (over TCP), although the attempt beside the silent QUIC connection is still dialling the dead path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crust-keep-restart-'))
    dirs.push(dir)
    const keyFile = join(dir, 'b.key')
    const b1 = await startNode({ keyFile })
    const tcpAddress = b1.addresses.find((a) => a.startsWith('tcp://'))
    const quicAddress = b1.addresses.find((a) => a.startsWith('quic://'))
    const proxy = await pathProxy('udp', portOf(quicAddress))
    try {
      const a = await startNode()
      const reconnected: NodeEvents['peer:reconnected'][] = []
      a.on('peer:reconnected', (event) => reconnected.push(event))
      const contact = { peerId: b1.peerId, addresses: [`quic://127.0.0.1:${proxy.port}`, tcpAddress ?? ''] }
      const first = await a.connect(contact, { transport: 'quic' })
      expect(first.transport).toBe('quic')
      a.keep(contact)
      // The application keeps sending (a silent path is found by what waits on it); failures are expected while b is away.
      let sending = true
      const flow = (async () => {
        while (sending) {
          await a.send(b1.peerId, Buffer.from('tick'), { timeout: 1_000 }).catch(() => {})
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      })()
      // b1 vanishes: its QUIC path goes silent first, so even its goodbye never arrives.
      proxy.blackhole()
      await b1.stop()
      await new Promise((resolve) => setTimeout(resolve, 2_000))
      const b2 = await startNode({ keyFile, tcpPort: portOf(tcpAddress) })
      const backAt = performance.now()
      expect(b2.peerId).toBe(b1.peerId)
      while (reconnected.length === 0 && performance.now() - backAt < 12_000) await new Promise((resolve) => setTimeout(resolve, 20))
      const tookMs = performance.now() - backAt
      sending = false
      await flow
      expect(reconnected).toHaveLength(1)
      // The fresh attempt's QUIC dial into the dead path gives up only at the dial timeout (10 s).
      expect(tookMs).toBeLessThan(1_500)
      const now = a.getConnection(b2.peerId)
      expect(now?.transport).toBe('tcp')
      b2.handle((m) => (m.isRequest ? m.data : undefined))
      expect(Buffer.from(await (now as NonNullable<typeof now>).request(Buffer.from('back'))).toString()).toBe('back')
    } finally {
      await proxy.close()
    }
  }, 30_000)
})
