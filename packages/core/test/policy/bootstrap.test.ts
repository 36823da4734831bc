import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { BootstrapError } from '../../src/errors.js'
import { Net, addressOf, contactOf, fakeClocks } from './helpers.js'

describe('bootstrap (memory transport)', () => {
  it('dials the cache, most recent first, then the contacts, one at a time with parallelism 1', async () => {
    fakeClocks() // Date only orders the cache entries here
    const net = new Net()
    const [b, c, d] = [await net.node(), await net.node(), await net.node()]
    const dir = mkdtempSync(join(tmpdir(), 'crust-policy-bootstrap-'))
    const seeder = await net.node({ bootstrap: { cacheDir: dir } })
    await seeder.connect(contactOf(b))
    await vi.advanceTimersByTimeAsync(1_000)
    await seeder.connect(contactOf(c)) // seen last: tried first
    await seeder.stop() // flushes the cache

    const node = await net.node({ bootstrap: { cacheDir: dir, contacts: [contactOf(d)], parallelism: 1 } })
    expect(node.bootstrapCandidates().map((x) => [x.peerId, x.source])).toEqual([
      [c.peerId, 'cache'],
      [b.peerId, 'cache'],
      [d.peerId, 'contact'],
    ])
    net.network.refuse(addressOf(c))
    net.network.refuse(addressOf(b))
    const before = net.network.dials.length
    const joined = await node.bootstrap()
    expect(joined.peerId).toBe(d.peerId)
    expect(net.network.dials.slice(before).map((x) => x.to)).toEqual([addressOf(c), addressOf(b), addressOf(d)])
  })

  it('never caches a hard-coded contact, and follows setContacts: a former contact is cached, a new one is not', async () => {
    const net = new Net()
    const [b, c] = [await net.node(), await net.node()]
    const node = await net.node({ bootstrap: { contacts: [contactOf(b)] } })
    const cached = () => node.bootstrapCandidates().flatMap((x) => (x.source === 'cache' ? [x.peerId] : []))
    await node.connect(contactOf(b))
    expect(cached()).toEqual([])
    node.setContacts([contactOf(c)])
    await node.connect(contactOf(c))
    await node.connect(contactOf(b), { fresh: true })
    expect(cached()).toEqual([b.peerId])
  })

  it('stops at the first candidate that answers: later ones are never dialled', async () => {
    const net = new Net()
    const [b, c] = [await net.node(), await net.node()]
    const node = await net.node({ bootstrap: { contacts: [contactOf(b), contactOf(c)], parallelism: 1 } })
    expect((await node.bootstrap()).peerId).toBe(b.peerId)
    expect(net.network.dials.map((x) => x.to)).toEqual([addressOf(b)])
  })

  it('reports every candidate when none answers', async () => {
    const net = new Net()
    const [b, c] = [await net.node(), await net.node()]
    const node = await net.node({ bootstrap: { contacts: [contactOf(b), contactOf(c)], parallelism: 1 } })
    net.network.refuse(addressOf(b))
    net.network.refuse(addressOf(c))
    const failure = await node.bootstrap().catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(BootstrapError)
    expect((failure as BootstrapError).errors.map((e) => e.peerId)).toEqual([b.peerId, c.peerId])
  })
})
