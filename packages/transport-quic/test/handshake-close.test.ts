/**
 * A close during the QUIC handshake reaches both sides at once. The library
 * used to reject `start()` only after quiche's draining period, 3 PTO, which
 * before any RTT sample is ~3 s on any path (loopback included).
 */
import { ProtocolError } from '@crust/core'
import { QUICClient, QUICServer, QUICSocket } from '@crust/quic-lib'
import { describe, expect, it } from 'vitest'
import { clientCrypto, serverCrypto } from '../src/crypto-ops.js'
import { makeTransport, waitFor } from './helpers.js'

const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, getChild: () => silent }
const logger = silent as unknown as NonNullable<ConstructorParameters<typeof QUICSocket>[0]['logger']>

describe('a close during the QUIC handshake (no common ALPN)', () => {
  it('reaches the listener and the other client at once, as a ProtocolError on the listener', async () => {
    const server = await makeTransport()
    const port = server.transport.localEndpoint!.port
    const started = performance.now()
    const outcome = await QUICClient.createQUICClient(
      { host: '127.0.0.1', port, crypto: clientCrypto, config: { verifyPeer: false, applicationProtos: ['other/1'] }, logger },
      { timer: 10_000 },
    ).then(
      async (client) => {
        await client.destroy({ force: true })
        return 'connected'
      },
      () => 'refused',
    )
    const client = performance.now() - started
    await waitFor(() => server.failures.length === 1, 5000, 'the listener reports the failure')
    const listener = performance.now() - started
    console.log(`no common ALPN: the client knew after ${client.toFixed(0)} ms, the listener after ${listener.toFixed(0)} ms`)
    expect(outcome).toBe('refused')
    expect(server.failures[0]?.error).toBeInstanceOf(ProtocolError)
    expect(client).toBeLessThan(500)
    expect(listener).toBeLessThan(500)
  })

  it('fails a dial at once, as a ProtocolError', async () => {
    const socket = new QUICSocket({ logger })
    await socket.start({ host: '127.0.0.1', port: 0 })
    const { identity } = await import('@crust/core/plugin').then((plugin) => plugin.createIdentity({}))
    const { createSecurityContext } = await import('@crust/core/plugin')
    const security = createSecurityContext(identity, { mode: 'peer-id' })
    const other = new QUICServer({
      crypto: serverCrypto(),
      socket,
      config: { key: security.privateKeyPem, cert: security.certificatePem, verifyPeer: false, applicationProtos: ['other/1'] },
      logger,
    })
    await other.start()
    const client = await makeTransport({ listen: false })
    const started = performance.now()
    try {
      const error = await client.transport.dial(`quic://127.0.0.1:${socket.port}`).then(
        () => undefined,
        (e: unknown) => e,
      )
      const elapsed = performance.now() - started
      console.log(`no common ALPN: the dial failed after ${elapsed.toFixed(0)} ms`)
      expect(error).toBeInstanceOf(ProtocolError)
      expect(elapsed).toBeLessThan(500)
    } finally {
      await other.stop({ force: true })
      await socket.stop({ force: true })
    }
  })
})
