/**
 * A node "whose TCP is firewalled", simulated on one machine without root:
 * the node runs only QUIC, and announces a TCP address where a socket
 * accepts connections but never answers, as a stateful firewall that
 * swallows the handshake would. Peers dial TCP first, get no TLS answer,
 * and the core falls back to QUIC after `connection.fallbackDelay`.
 *
 * @packageDocumentation
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { ServiceFactory } from '@crust/core'

/** A TCP port on 127.0.0.1 that accepts and then stays silent. */
export interface SilentPort {
  readonly address: string
  close(): Promise<void>
}

/** Open a silent TCP port on 127.0.0.1. */
export async function openSilentPort(): Promise<SilentPort> {
  const sockets = new Set<Socket>()
  let closed = false
  const server: Server = createServer((socket) => {
    if (closed) {
      socket.destroy() // accepted just as the port closed
      return
    }
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    address: `tcp://127.0.0.1:${port}`,
    close: async () => {
      closed = true
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A service that makes the node announce `address` too (through the core's service contract). */
export function announce(address: string): ServiceFactory {
  return (components) => ({
    id: 'demo-firewalled-tcp',
    start: async () => components.advertise([{ address, method: 'direct' }]),
    stop: async () => components.advertise([]),
  })
}
