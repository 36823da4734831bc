/**
 * Typed access to the parts of `@matrixai/quic` that its declarations mark
 * internal or protected, but that this transport needs (the native quiche
 * connection for stream credit, the server's accept path for the gate, the
 * dgram socket for its buffers). Every cast lives here, so an upgrade of the
 * library is checked in one place.
 *
 * @packageDocumentation
 */
import type dgram from 'node:dgram'
import type { QUICConfig, QUICConnection, QUICConnectionId, QUICServer, QUICSocket, QUICStream } from '@crust/quic-lib'
import type { Connection as NativeConnection, Header } from '@crust/quic-lib/native/types.js'

/** The library's logger type, which its constructors expect. */
export type LibraryLogger = NonNullable<ConstructorParameters<typeof QUICSocket>[0]['logger']>

/** A remote UDP endpoint as the library passes it around. */
export interface RemoteInfo {
  readonly host: string
  readonly port: number
}

/** Internal members of a `QUICConnection`. */
export interface ConnectionInternals {
  /** The native quiche connection. */
  readonly conn: NativeConnection
  /** Streams by id, both directions. */
  readonly streamMap: Map<number, QUICStream>
  /** Feeds one datagram to the connection; reassigned to observe stream credit. */
  recv(data: Buffer, remoteInfo: RemoteInfo): Promise<void>
}

/** Internal members of a `QUICSocket`. */
export interface SocketInternals {
  /** The bound dgram socket. */
  readonly socket: dgram.Socket
  /** The library's 'message' listener (an async arrow function). */
  readonly handleSocketMessage: (data: Buffer, remote: dgram.RemoteInfo) => Promise<void>
  /** Raw send; reassigned so an unexpected errno is a lost packet, not a crash. */
  send_(...params: [Uint8Array, number, string] | [Uint8Array, number, number, number, string]): Promise<number>
  readonly connectionMap: { readonly size: number; readonly serverConnections: Map<string, QUICConnection> }
}

/** Internal members of a `QUICServer`. */
export interface ServerInternals {
  /** Current server config (copied into every accepted connection). */
  readonly config: QUICConfig
  /** Called by the socket for every datagram of an unknown connection; reassigned to gate inbound attempts. */
  acceptConnection(remote: RemoteInfo, header: Header, dcid: QUICConnectionId, data: Buffer): Promise<QUICConnection | undefined>
  /** Checks a retry token and returns the client's original DCID. */
  validateToken(token: Buffer, host: string): Promise<QUICConnectionId | undefined>
}

export function connectionInternals(connection: QUICConnection): ConnectionInternals {
  return connection as unknown as ConnectionInternals
}

export function socketInternals(socket: QUICSocket): SocketInternals {
  return socket as unknown as SocketInternals
}

export function serverInternals(server: QUICServer): ServerInternals {
  return server as unknown as ServerInternals
}
