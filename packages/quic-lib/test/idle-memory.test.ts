/**
 * Crust's changes for what an idle connection holds (changes 20-24 in the
 * README), each measured on the published library too where it is
 * observable there, so each test is shown to fail without the change.
 */
import { X509Certificate, randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import type { QUICConnection } from '@crust/quic-lib'
import { describe, expect, it } from 'vitest'
import { type Library, clientCrypto, connect, logger, openedStream, patched, readAll, retryGate, serverCrypto, tls, upstream, waitFor } from './helpers.js'

/** Whether two objects share one hidden class (V8's own check). */
const sameShape: (a: object, b: object) => boolean = (() => {
  setFlagsFromString('--allow-natives-syntax')
  return new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean
})()

type Internals = { _certDERs?: unknown; certDERs: Uint8Array[]; config: object }

/** Server connections accepted through a minimal gate, each with its own stateless reset token, as Crust's listener does. */
async function acceptSeveral(count: number): Promise<{ accepted: QUICConnection[]; close: () => Promise<void> }> {
  const socket = new patched.QUICSocket({ logger })
  await socket.start({ host: '127.0.0.1', port: 0 })
  const accepted: QUICConnection[] = []
  const server = new patched.QUICServer({
    crypto: serverCrypto,
    socket,
    config: { key: tls.key, cert: tls.cert },
    logger,
    acceptGate: retryGate(socket, async (original, accept) => {
      const token = BigInt(`0x${randomBytes(16).toString('hex')}`)
      const connection = await accept(original, { statelessResetToken: token })
      if (connection) accepted.push(connection)
    }),
  })
  await server.start()
  const clients: Array<InstanceType<Library['QUICClient']>> = []
  for (let i = 0; i < count; i++) {
    clients.push(
      await patched.QUICClient.createQUICClient({ host: '127.0.0.1', port: socket.port, crypto: clientCrypto, config: { verifyPeer: false }, logger }),
    )
  }
  await waitFor(() => accepted.length === count)
  return {
    accepted,
    close: async () => {
      for (const client of clients) await client.destroy({ force: true }).catch(() => {})
      await server.stop({ force: true })
      await socket.stop({ force: true })
    },
  }
}

describe("a server connection's config (change 22)", () => {
  it('shares one hidden class across connections, each with its own stateless reset token (a spread gave each its own)', async () => {
    // What the change avoids, in V8 itself: spread copies holding fresh BigInts each get a hidden class.
    const base = { a: 1, b: 'x', c: true }
    const spread = Array.from({ length: 40 }, () => ({ ...base, ...{ token: BigInt(`0x${randomBytes(16).toString('hex')}`) } }))
    const assigned = Array.from({ length: 40 }, () => Object.assign({}, base, { token: BigInt(`0x${randomBytes(16).toString('hex')}`) }))
    expect(spread.slice(1).every((copy) => sameShape(copy, spread[0] as object))).toBe(false)
    expect(assigned.slice(1).every((copy) => sameShape(copy, assigned[0] as object))).toBe(true)
    const { accepted, close } = await acceptSeveral(20)
    try {
      const configs = accepted.map((connection) => (connection as unknown as Internals).config)
      expect(configs.slice(1).every((config) => sameShape(config, configs[0] as object))).toBe(true)
    } finally {
      await close()
    }
  })
})

describe('local and CA chains in DER (change 23)', () => {
  it('are converted on first use, not by every connection; the chain returned is the same', async () => {
    const der = new Uint8Array(new X509Certificate(tls.cert).raw)
    for (const [lib, lazy] of [
      [patched, true],
      [upstream, false],
    ] as const) {
      const pair = await connect(lib)
      try {
        const server = (await pair.server()) as unknown as QUICConnection & Internals
        // Published: a chain of its own on every connection from the start; here: nothing until asked.
        const own = Object.getOwnPropertyDescriptor(server, 'certDERs')?.value
        if (lazy) expect([own, server._certDERs]).toEqual([undefined, undefined])
        else expect(own).toHaveLength(1)
        const chain = server.getLocalCertsChain()
        if (lazy) expect(server._certDERs).toBe(chain)
        expect(chain.map((cert) => Buffer.from(cert).toString('hex'))).toEqual([Buffer.from(der).toString('hex')])
        expect(server.getLocalCertsChain()).toBe(chain)
        expect(server.getLocalCACertsChain()).toEqual([])
      } finally {
        await pair.close()
      }
    }
  })
})

describe('@matrixai/async-locks (vendored): a Semaphore without a WeakMap (change 24)', () => {
  it('an aborted waiter is skipped, as before; the published Semaphore keeps a WeakMap per instance for it', async () => {
    const vendored = await import('@crust/quic-lib/vendor/async-locks/index.js')
    const published = await import('@matrixai/async-locks')
    for (const [lib, hasMap] of [
      [vendored, false],
      [published, true],
    ] as const) {
      const lock = new lib.Lock()
      expect('abortQueueMap' in (lock as unknown as { semaphore: object }).semaphore).toBe(hasMap)
      const [release] = await lock.lock()()
      const controller = new AbortController()
      const aborted = lock.lock({ signal: controller.signal })()
      const order: string[] = []
      const next = lock.withF(async () => void order.push('next'))
      controller.abort(new Error('gave up'))
      await expect(aborted).rejects.toThrow('gave up')
      await release()
      await next
      expect(order).toEqual(['next'])
      expect(lock.isLocked()).toBe(false)
      expect(lock.count).toBe(0)
    }
  })
})

describe('@matrixai/events (vendored): shared listener options (change 25)', () => {
  it('listeners without a signal share their canonical options; once and capture behave as before', async () => {
    const vendored = await import('@crust/quic-lib/vendor/events/index.js')
    const published = await import('@matrixai/events')
    for (const [lib, shared] of [
      [vendored, true],
      [published, false],
    ] as const) {
      const handlers = (target: object, type: string): Array<{ options: object }> => [
        ...((target as Record<symbol, Map<string, Set<{ options: object }>>>)[lib.utils.eventHandlers]?.get(type) ?? []),
      ]
      type Target = EventTarget & { addEventListener: EventTarget['addEventListener'] }
      const Target = lib.Evented()(class {}) as unknown as new () => Target
      const [a, b] = [new Target(), new Target()]
      let calls = 0
      a.addEventListener('x', () => void calls++, { once: true })
      b.addEventListener('x', () => void calls++, { once: true })
      const [optionsA, optionsB] = [handlers(a, 'x')[0]?.options, handlers(b, 'x')[0]?.options]
      expect(optionsA).toEqual({ capture: false, once: true, passive: false })
      expect(optionsA === optionsB).toBe(shared)
      a.dispatchEvent(new Event('x'))
      a.dispatchEvent(new Event('x'))
      expect(calls).toBe(1)
      // With a signal: options of its own, and the signal still removes the listener.
      const controller = new AbortController()
      b.addEventListener('y', () => void calls++, { signal: controller.signal })
      controller.abort()
      b.dispatchEvent(new Event('y'))
      expect(calls).toBe(1)
    }
  })
})

describe('a stream with nothing to read (change 26)', () => {
  it('waits without a suspended async call, and reads what arrives later', async () => {
    const pair = await connect(patched)
    try {
      const { writer, served: serverStream } = await openedStream(pair, Buffer.from('open'))
      const pull = (serverStream as unknown as { readablePull: () => unknown }).readablePull
      expect(pull.constructor.name).toBe('Function') // not an AsyncFunction
      const reading = readAll(serverStream)
      await new Promise((resolve) => setTimeout(resolve, 50)) // the pull now waits for data
      await writer.write(Buffer.from(' later'))
      await writer.close()
      expect((await reading).toString()).toBe('open later')
    } finally {
      await pair.close()
    }
  })
})
