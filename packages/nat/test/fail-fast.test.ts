import { generateKeyPairSync } from 'node:crypto'
import {
  ConfigError,
  CrustError,
  type CrustNode,
  DialError,
  type ServiceFactory,
  UnsupportedAddressError,
  isCrustError,
  peerIdFromPublicKey,
} from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { describe, expect, it } from 'vitest'
import { holePunch } from '../src/holepunch/index.js'
import { relay } from '../src/relay/index.js'
import { startNode } from './helpers.js'

/** A well-formed peer id nobody runs. */
function unknownPeerId(): string {
  return peerIdFromPublicKey(generateKeyPairSync('ed25519').publicKey)
}

/** What `connect` rejected with, how long it took, and how many retries it announced (default retry policy). */
async function connectFailure(node: CrustNode, contact: { peerId?: string; addresses: readonly string[] }) {
  let retries = 0
  const off = node.on('dial:retry', () => retries++)
  const started = performance.now()
  const error = await node.connect(contact).then(
    () => undefined,
    (e: unknown) => e,
  )
  off()
  return { error, ms: performance.now() - started, retries }
}

/** A connector that always refuses, permanently or not. */
function refusing(permanent: boolean): { factory: ServiceFactory; asked: () => number } {
  let asked = 0
  const factory: ServiceFactory = () => ({
    id: 'refuser',
    start: async () => {},
    stop: async () => {},
    connector: {
      priority: 10,
      connect: async () => {
        asked++
        throw new CrustError('ERR_TEST_REFUSED', permanent ? 'cannot ever reach it' : 'cannot reach it now', { permanent })
      },
    },
  })
  return { factory, asked: () => asked }
}

// Before, each of these retried with backoff for 20-27 s (retry.maxElapsed 30 s, 10 attempts).
describe('connect() fails fast on what cannot succeed', () => {
  it('a peer with no addresses, on a TCP-only node whose NAT services cannot help: rejects at once with every reason', async () => {
    const node = await startNode({ transports: [tcp({ host: '127.0.0.1' })], services: [holePunch(), relay({ upgrade: false })] })
    const { error, ms, retries } = await connectFailure(node, { peerId: unknownPeerId(), addresses: [] })
    expect(error).toBeInstanceOf(DialError)
    expect(String(error)).toMatch(/no addresses to dial/)
    expect(String(error)).toMatch(/hole punching needs the QUIC transport/)
    expect(String(error)).toMatch(/no connected peer can relay/)
    expect(retries).toBe(0)
    expect(ms).toBeLessThan(1_000)
  })

  it('a lone node with hole punching and relaying over QUIC: no rendezvous and no relay reject at once', async () => {
    const node = await startNode({ services: [holePunch(), relay({ upgrade: false })] })
    const { error, ms, retries } = await connectFailure(node, { peerId: unknownPeerId(), addresses: [] })
    expect(String(error)).toMatch(/no connected peer can act as rendezvous/)
    expect(String(error)).toMatch(/no connected peer can relay/)
    expect(retries).toBe(0)
    expect(ms).toBeLessThan(1_000)
  })

  it('no addresses and no services: a typed DialError at once', async () => {
    const node = await startNode()
    const { error, ms, retries } = await connectFailure(node, { peerId: unknownPeerId(), addresses: [] })
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).permanent).toBe(true)
    expect(retries).toBe(0)
    expect(ms).toBeLessThan(1_000)
  })

  it('a malformed peer id, or addresses that are not strings: ConfigError before any dial', async () => {
    const node = await startNode()
    const malformed = await connectFailure(node, { peerId: 'bciqnotapeerid', addresses: ['tcp://127.0.0.1:1'] })
    expect(malformed.error).toBeInstanceOf(ConfigError)
    expect(String(malformed.error)).toMatch(/malformed peer id "bciqnotapeerid"/)
    expect(malformed.ms).toBeLessThan(1_000)
    const notStrings = await connectFailure(node, { addresses: [42 as unknown as string] })
    expect(notStrings.error).toBeInstanceOf(ConfigError)
    expect(String(notStrings.error)).toMatch(/contact\.addresses/)
  })

  it('only addresses no transport of the node dials: UnsupportedAddressError at once', async () => {
    const node = await startNode({ transports: [tcp({ host: '127.0.0.1' })] })
    const { error, ms, retries } = await connectFailure(node, { peerId: unknownPeerId(), addresses: ['quic://127.0.0.1:4001'] })
    expect(error).toBeInstanceOf(UnsupportedAddressError)
    expect(retries).toBe(0)
    expect(ms).toBeLessThan(1_000)
  })

  it('send() to a peer with no known address still waits for it to connect to us (that can change)', async () => {
    const a = await startNode()
    const b = await startNode()
    const received = new Promise<string>((resolve) => b.on('message', (message) => resolve(Buffer.from(message.data).toString())))
    const sent = a.send(b.peerId, Buffer.from('hello'), { timeout: 5_000 })
    setTimeout(() => void b.connect({ peerId: a.peerId, addresses: a.addresses }), 300)
    await sent
    expect(await received).toBe('hello')
  })

  it('a connector can mark its refusal permanent (no retries); a refusal that is not permanent is retried', async () => {
    const retry = { initialDelay: 20, maxDelay: 20, maxAttempts: 3, jitter: false }
    const permanent = refusing(true)
    const a = await startNode({ services: [permanent.factory], retry })
    const never = await connectFailure(a, { peerId: unknownPeerId(), addresses: [] })
    expect(isCrustError(never.error, 'ERR_DIAL_FAILED') && never.error.errors.map((e) => e.address)).toEqual(['direct', 'via refuser'])
    expect(never.retries).toBe(0)
    expect(permanent.asked()).toBe(1)

    const transient = refusing(false)
    const b = await startNode({ services: [transient.factory], retry })
    const later = await connectFailure(b, { peerId: unknownPeerId(), addresses: [] })
    expect(String(later.error)).toMatch(/cannot reach it now/)
    expect(later.retries).toBe(2)
    expect(transient.asked()).toBe(3)
  })
})
