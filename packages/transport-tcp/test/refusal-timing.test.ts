import { type Socket, connect, createServer } from 'node:net'
import { BlacklistedError, type CrustNode, NetworkMismatchError } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { startNode } from './helpers.js'

/**
 * A loopback TCP relay in front of `target` that passes bytes both ways at
 * once but holds the listener's end of the connection (its FIN) back by
 * `delayMs`: the refusal's GO_AWAY arrives promptly, the connection's close
 * late, as on a loaded dialler or a lossy path.
 */
async function lateFin(target: number, delayMs: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
    }
    client.pipe(upstream)
    upstream.pipe(client, { end: false })
    upstream.on('end', () => {
      const timer = setTimeout(() => client.end(), delayMs)
      timers.add(timer)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close() {
      for (const timer of timers) clearTimeout(timer)
      for (const socket of sockets) socket.destroy()
      server.close()
    },
  }
}

/** Dial `listener` once through the relay: what the dial rejects with. */
async function dialWithLateClose(dialler: CrustNode, listener: CrustNode): Promise<unknown> {
  const port = Number(new URL(listener.addresses[0]!.replace('tcp:', 'http:')).port)
  const relay = await lateFin(port, 500)
  try {
    return await dialler.connect({ addresses: [`tcp://127.0.0.1:${relay.port}`] }).then(
      () => undefined,
      (e: unknown) => e,
    )
  } finally {
    relay.close()
  }
}

describe('a refusal reaches the dialler typed, however late the connection closes', () => {
  it('another network: NetworkMismatchError', async () => {
    const listener = await startNode({ networkName: 'other-net' })
    const dialler = await startNode({ retry: { maxAttempts: 1 } })
    expect(await dialWithLateClose(dialler, listener)).toBeInstanceOf(NetworkMismatchError)
  })

  it('a blacklisted peer id: BlacklistedError', async () => {
    const dialler = await startNode({ retry: { maxAttempts: 1 } })
    const listener = await startNode({ blacklist: { peers: [dialler.peerId] } })
    expect(await dialWithLateClose(dialler, listener)).toBeInstanceOf(BlacklistedError)
  })
})
