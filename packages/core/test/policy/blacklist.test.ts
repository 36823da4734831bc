import { describe, expect, it } from 'vitest'
import { BlacklistedError, DialError } from '../../src/errors.js'
import { CloseCode } from '../../src/transport/types.js'
import { Net, addressOf, contactOf, waitFor } from './helpers.js'

describe('blacklist (memory transport)', () => {
  it('by peer id: refuses at once without dialling, closes the live connection, and the peer is refused inbound', async () => {
    const net = new Net()
    const [a, b] = [await net.node({ retry: { maxAttempts: 1 } }), await net.node({ retry: { maxAttempts: 1 } })]
    const connection = await a.connect(contactOf(b))
    await waitFor(() => b.connections.length === 1)
    const dials = net.network.dialCount()
    a.blacklist.add(b.peerId)
    expect((await connection.closed).code).toBe(CloseCode.BLACKLISTED)
    await expect(a.connect(contactOf(b))).rejects.toBeInstanceOf(BlacklistedError)
    expect(net.network.dialCount()).toBe(dials) // refused before any dial
    // b may still dial a; a refuses it once it knows who it is.
    await expect(b.connect(contactOf(a))).rejects.toBeInstanceOf(BlacklistedError)
    expect(net.network.dialCount(addressOf(a))).toBe(1)
    expect(a.connections).toHaveLength(0)
    a.blacklist.remove(b.peerId)
    expect((await a.connect(contactOf(b))).peerId).toBe(b.peerId)
  })

  it('by IP: refuses a dial to the address without dialling, and refuses the peer inbound at the gate, before authentication', async () => {
    const net = new Net()
    const a = await net.node({ retry: { maxAttempts: 1 } }, '192.0.2.1')
    const b = await net.node({ retry: { maxAttempts: 1 } }, '198.51.100.7')
    const c = await net.node({ retry: { maxAttempts: 1 } }, '203.0.113.9')
    const rejected: string[] = []
    a.on('connection:rejected', ({ error }) => rejected.push(error.name))
    a.blacklist.add('198.51.100.0/24')
    await expect(a.connect(contactOf(b))).rejects.toBeInstanceOf(BlacklistedError)
    expect(net.network.dialCount()).toBe(0)
    // Refused at the gate: the dialler sees only a refused dial; a names the reason.
    await expect(b.connect(contactOf(a))).rejects.toBeInstanceOf(DialError)
    expect(rejected).toEqual(['BlacklistedError'])
    expect(a.connections).toHaveLength(0)
    // Another IP is unaffected.
    expect((await c.connect(contactOf(a))).peerId).toBe(a.peerId)
  })

  it('from config: a blacklisted peer is refused without a dial', async () => {
    const net = new Net()
    const b = await net.node()
    const a = await net.node({ blacklist: { peers: [b.peerId] } })
    await expect(a.connect(contactOf(b))).rejects.toBeInstanceOf(BlacklistedError)
    expect(net.network.dialCount()).toBe(0)
  })
})
