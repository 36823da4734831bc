import { CloseCode } from '@crust/core'
import { pathProxy } from '@crust/core/testing'
import { describe, expect, it } from 'vitest'
import { startNode, waitFor } from './helpers.js'

describe('a changed network (TCP through loopback proxies)', () => {
  it('one path found dead makes the node probe the others: quiet dead ones close as PATH_LOST within seconds, live ones stay', async () => {
    const config = { connection: { pathTimeout: 1_000 } }
    const a = await startNode(config)
    const [b, c, d] = await Promise.all([startNode(config), startNode(config), startNode(config)])
    const proxies = await Promise.all([b, c].map((n) => pathProxy('tcp', Number(new URL(n.addresses[0] ?? '').port))))
    try {
      const closed = new Map<string, { code: number; at: number }>()
      a.on('connection:close', (e) => closed.set(e.peerId, { code: e.code, at: performance.now() }))
      const toB = await a.connect({ peerId: b.peerId, addresses: [`tcp://127.0.0.1:${proxies[0]?.port}`] })
      await a.connect({ peerId: c.peerId, addresses: [`tcp://127.0.0.1:${proxies[1]?.port}`] })
      await a.connect({ peerId: d.peerId, addresses: [...d.addresses] })
      for (const proxy of proxies) proxy.blackhole() // the network under b and c changed; d is fine
      const started = performance.now()
      await expect(toB.send(Buffer.from('lost?'))).rejects.toThrow() // a waits on b: found dead at ~1 s
      await waitFor(() => closed.has(c.peerId), 4_000, 'the quiet connection to c to be found dead')
      expect(closed.get(b.peerId)?.code).toBe(CloseCode.PATH_LOST)
      expect(closed.get(c.peerId)?.code).toBe(CloseCode.PATH_LOST)
      expect((closed.get(c.peerId)?.at ?? 0) - started).toBeLessThan(3_500)
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(closed.has(d.peerId)).toBe(false)
      expect(a.getConnection(d.peerId)).toBeDefined()
    } finally {
      await Promise.all(proxies.map((p) => p.close()))
    }
  }, 20_000)
})
