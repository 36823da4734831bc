import { describe, expect, it, vi } from 'vitest'
import { AuthenticationError, DialError, TimeoutError } from '../../src/errors.js'
import { createIdentity } from '../../src/identity/identity.js'
import { createSecurityContext } from '../../src/identity/security.js'
import { createLogger } from '../../src/logger.js'
import { Credentials } from '../../src/testing/memory/auth.js'
import { Collector, MemoryNetwork, TestGate, memoryTransport } from '../../src/testing/index.js'
import { CloseCode, type Transport, type TransportConnection } from '../../src/transport/types.js'

const limits = { idleTimeout: 0, keepAliveInterval: 0, handshakeTimeout: 2_000, maxInboundStreams: 16 }

/** A memory transport with real identity and a collector for its inbound connections. */
async function side(network: MemoryNetwork) {
  const { identity } = await createIdentity()
  const inbound = new Collector<TransportConnection>()
  const transport: Transport = memoryTransport(network)({
    security: createSecurityContext(identity, { mode: 'peer-id' }),
    gate: new TestGate(),
    limits,
    logger: createLogger('silent'),
    onInboundConnection: (c) => inbound.push(c),
    onInboundFailure: () => {},
  })
  return { peerId: identity.peerId, transport, inbound }
}

async function pair() {
  const network = new MemoryNetwork()
  const [listener, dialer] = [await side(network), await side(network)]
  await listener.transport.listen('memory://127.0.0.1:0')
  const [address] = listener.transport.addresses() as [string]
  return { network, listener, dialer, address }
}

describe('memory transport: authentication', () => {
  it('refuses a peer that shows another node’s certificate without its key', async () => {
    const [victim, thief] = await Promise.all([createIdentity(), createIdentity()])
    const verifier = new Credentials(createSecurityContext((await createIdentity()).identity, { mode: 'peer-id' }))
    const challenge = Credentials.challenge()
    const honest = new Credentials(createSecurityContext(victim.identity, { mode: 'peer-id' })).present(challenge)
    expect(verifier.authenticate(honest, challenge, victim.identity.peerId).peerId).toBe(victim.identity.peerId)
    const forged = { chain: honest.chain, proof: new Credentials(createSecurityContext(thief.identity, { mode: 'peer-id' })).present(challenge).proof }
    expect(() => verifier.authenticate(forged, challenge, victim.identity.peerId)).toThrow(AuthenticationError)
    // A proof made for another challenge is no proof either (no replay).
    expect(() => verifier.authenticate(honest, Credentials.challenge(), victim.identity.peerId)).toThrow(AuthenticationError)
  })
})

describe('memory transport: fault injection', () => {
  it('refuse: the dial fails at once with DialError; heal: it connects', async () => {
    const { network, listener, dialer, address } = await pair()
    network.refuse(address)
    await expect(dialer.transport.dial(address)).rejects.toBeInstanceOf(DialError)
    expect(listener.inbound.count).toBe(0)
    network.heal(address)
    expect((await dialer.transport.dial(address)).remotePeer.peerId).toBe(listener.peerId)
    expect(network.dialCount(address)).toBe(2)
    await Promise.all([listener.transport.close(), dialer.transport.close()])
  })

  it('delay and blackhole run on the (fakeable) timers: a delayed dial lands after its delay, a black-holed one times out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const { network, listener, dialer, address } = await pair()
      network.delay(address, 500)
      const delayed = dialer.transport.dial(address)
      await vi.advanceTimersByTimeAsync(499)
      expect(listener.inbound.count).toBe(0)
      await vi.advanceTimersByTimeAsync(1)
      expect((await delayed).remotePeer.peerId).toBe(listener.peerId)
      network.blackhole(address)
      const lost = dialer.transport.dial(address).catch((e: unknown) => e)
      await vi.advanceTimersByTimeAsync(limits.handshakeTimeout)
      expect(await lost).toBeInstanceOf(TimeoutError)
      expect(listener.inbound.count).toBe(1)
      await Promise.all([listener.transport.close(), dialer.transport.close()])
    } finally {
      vi.useRealTimers()
    }
  })

  it('drop: both ends close at once with INTERNAL, as seen from the remote, and open streams fail', async () => {
    const { network, listener, dialer, address } = await pair()
    const outbound = await dialer.transport.dial(address)
    const inbound = await listener.inbound.next(1_000, 'the inbound connection')
    const stream = await outbound.openStream({ bidirectional: true })
    expect(network.connections()).toHaveLength(1)
    expect(network.drop(listener.peerId)).toBe(1)
    for (const end of [outbound, inbound]) expect(await end.closed).toMatchObject({ code: CloseCode.INTERNAL, remote: true })
    await expect(stream.write(Buffer.from('x'))).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' })
    expect(network.connections()).toHaveLength(0)
    await Promise.all([listener.transport.close(), dialer.transport.close()])
  })
})
