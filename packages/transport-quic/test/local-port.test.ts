import { createSocket } from 'node:dgram'
import type { AddressInfo } from 'node:net'
import { CloseCode } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { makeTransport, readAll, waitFor } from './helpers.js'

/** A UDP port free right now (bound and released). */
async function freePort(): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address() as AddressInfo
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

/** True when `port` can be bound (nothing holds it). */
async function canBind(port: number): Promise<boolean> {
  const socket = createSocket('udp4')
  const bound = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false))
    socket.bind(port, '0.0.0.0', () => resolve(true))
  })
  if (bound) await new Promise<void>((resolve) => socket.close(() => resolve()))
  return bound
}

/** Wait until `port` can be bound again. */
async function released(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await canBind(port))) {
    if (Date.now() > deadline) throw new Error(`port ${port} still bound after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('QUIC transport: dial from a local port of its own (hard-NAT hole punching)', () => {
  it('sends from that port, carries streams, and frees the port when the connection closes', async () => {
    const server = await makeTransport()
    const client = await makeTransport({ listen: false })
    try {
      const port = await freePort()
      const conn = await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId, localPort: port })
      await waitFor(() => server.inbound.length === 1, 5000, 'inbound connection')
      const inbound = server.inbound[0]!
      // The listener sees the connection come from the asked-for port, not the node's shared socket.
      expect(inbound.remoteAddress).toBe(`quic://127.0.0.1:${port}`)
      expect(conn.localAddress.endsWith(`:${port}`)).toBe(true)
      inbound.onStream(async (stream) => stream.write(Buffer.concat([Buffer.from('echo:'), await readAll(stream)]), { end: true }))
      const stream = await conn.openStream({ bidirectional: true })
      await stream.write(Buffer.from('hi'), { end: true })
      expect((await readAll(stream)).toString()).toBe('echo:hi')
      expect(await canBind(port)).toBe(false) // held while the connection lives
      await conn.close({ code: CloseCode.NORMAL, reason: 'done' })
      await released(port)
    } finally {
      await client.transport.close()
      await server.transport.close()
    }
  })

  it('localPort 0: a fresh ephemeral port of its own, not the shared socket, freed when the connection closes', async () => {
    const server = await makeTransport()
    const client = await makeTransport({ listen: false })
    try {
      const shared = await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId })
      const own = await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId, localPort: 0 })
      const ownPort = Number(own.localAddress.split(':').at(-1))
      expect(ownPort).toBeGreaterThan(0)
      expect(own.localAddress).not.toBe(shared.localAddress)
      await waitFor(() => server.inbound.length === 2, 5000, 'both inbound connections')
      expect(server.inbound.map((c) => c.remoteAddress)).toContain(`quic://127.0.0.1:${ownPort}`)
      expect(await canBind(ownPort)).toBe(false)
      await own.close({ code: CloseCode.NORMAL, reason: 'done' })
      await released(ownPort)
    } finally {
      await client.transport.close()
      await server.transport.close()
    }
  })

  it('fails a dial from a port already taken, and a failed dial leaves nothing bound', async () => {
    const server = await makeTransport()
    const client = await makeTransport({ listen: false })
    const holder = createSocket('udp4')
    try {
      await new Promise<void>((resolve) => holder.bind(0, '0.0.0.0', resolve))
      const taken = (holder.address() as AddressInfo).port
      await expect(client.transport.dial(server.address(), { expectedPeerId: server.security.peerId, localPort: taken })).rejects.toThrow()
      const port = await freePort()
      // A wrong peer id fails the handshake: the socket bound for it is released.
      const stranger = await makeTransport()
      await expect(client.transport.dial(server.address(), { expectedPeerId: stranger.security.peerId, localPort: port })).rejects.toThrow()
      await stranger.transport.close()
      await released(port)
    } finally {
      holder.close()
      await client.transport.close()
      await server.transport.close()
    }
  })
})
