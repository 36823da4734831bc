import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { ConfigError, type CrustNode, ListenError, type NodeConfigInput, createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { afterEach, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'

const nodes: CrustNode[] = []
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
  await Promise.allSettled(closers.splice(0).map((close) => close()))
})

/** What `start()` rejects with for a node with these transports and listen addresses. */
async function startFailure(transports: NodeConfigInput['transports'], listen: string[]) {
  const node = await createNode({ networkName: 'listen-errors', transports, listen, bootstrap: { cache: false }, logLevel: 'silent' })
  nodes.push(node)
  return node.start().then(
    () => undefined,
    (error: unknown) => error,
  )
}

describe('listen addresses', () => {
  it('an address no configured transport serves is a ConfigError naming it and the transports (it used to be dropped silently)', async () => {
    const udp = await startFailure([tcp({ host: '127.0.0.1' })], ['tcp://127.0.0.1:0', 'udp://127.0.0.1:4001'])
    expect(udp).toBeInstanceOf(ConfigError)
    expect(String(udp)).toMatch(/udp:\/\/127\.0\.0\.1:4001.*configured transports: tcp/)
    const quicOnTcp = await startFailure([tcp({ host: '127.0.0.1' })], ['quic://127.0.0.1:0'])
    expect(String(quicOnTcp)).toMatch(/no configured transport serves quic:\/\/127\.0\.0\.1:0 \(configured transports: tcp\)/)
  })

  it('a UDP port in use: the QUIC transport says which port is in use, not only "could not bind"', async () => {
    const socket = createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    closers.push(() => new Promise((resolve) => socket.close(() => resolve())))
    const { port } = socket.address()
    const error = await startFailure([quic({ host: '127.0.0.1' })], [`quic://127.0.0.1:${port}`])
    expect(error).toBeInstanceOf(ListenError)
    expect(error).toMatchObject({ code: 'ERR_LISTEN', transport: 'quic', address: `quic://127.0.0.1:${port}` })
    expect(String(error)).toContain(`the quic transport cannot listen on quic://127.0.0.1:${port}: port ${port} is already in use (EADDRINUSE)`)
  })

  it('a TCP port in use names the port and the transport too', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    closers.push(() => new Promise((resolve) => server.close(() => resolve())))
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const error = await startFailure([tcp({ host: '127.0.0.1' })], [`tcp://127.0.0.1:${port}`])
    expect(error).toBeInstanceOf(ListenError)
    expect(String(error)).toContain(`the tcp transport cannot listen on tcp://127.0.0.1:${port}: port ${port} is already in use (EADDRINUSE)`)
  })
})
