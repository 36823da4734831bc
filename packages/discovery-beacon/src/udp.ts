/**
 * Promise wrappers around `node:dgram` binding and closing.
 *
 * @packageDocumentation
 */
import { type Socket, type SocketType, createSocket } from 'node:dgram'

/** How to open a UDP socket. */
export interface OpenOptions {
  readonly type: SocketType
  readonly address: string
  readonly port: number
  readonly reuseAddr?: boolean
}

/** Create and bind a UDP socket; rejects with the bind error (the socket is then closed). */
export function openSocket(options: OpenOptions): Promise<Socket> {
  const socket = createSocket({ type: options.type, reuseAddr: options.reuseAddr ?? false, ipv6Only: options.type === 'udp6' })
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.off('listening', onListening)
      closeQuietly(socket)
      reject(error)
    }
    const onListening = (): void => {
      socket.off('error', onError)
      resolve(socket)
    }
    socket.once('error', onError)
    socket.once('listening', onListening)
    socket.bind({ address: options.address, port: options.port })
  })
}

/** Close a socket; resolves once closed. Safe on a socket that is already closed. */
export function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve())
    } catch {
      resolve() // already closed
    }
  })
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close()
  } catch {
    // already closed
  }
}
