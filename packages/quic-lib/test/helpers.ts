/**
 * Two copies of the library side by side: `@crust/quic-lib` as built (what
 * npm users install) and the published `@matrixai/quic` 2.0.9 (this
 * package's devDependency, unpatched). Each fix's test measures both, so it
 * is shown to fail on the unpatched library.
 */
import { createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as patched from '@crust/quic-lib'
import type { QUICClientConfigInput, QUICClientCrypto, QUICConnection, QUICConnectionId, QUICServerAcceptGate, QUICServerConfigInput, QUICServerCrypto, QUICSocket, QUICStream } from '@crust/quic-lib'

export type Library = typeof patched

/** The published library, typed as ours (it lacks the members the patch adds, which the tests probe). */
const upstream = (await import('@matrixai/quic')) as unknown as Library

export const libraries: ReadonlyArray<readonly [string, Library]> = [
  ['@crust/quic-lib', patched],
  ['@matrixai/quic (unpatched)', upstream],
]
export { patched, upstream }

type LibraryLogger = NonNullable<ConstructorParameters<Library['QUICSocket']>[0]['logger']>
const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, getChild: () => silent }
/** A logger for the library that prints nothing (its default one prints every connection's info lines). */
export const logger = silent as unknown as LibraryLogger

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')
/** A self-signed P-256 certificate and its key (test only). */
export const tls = { key: fixture('key.pem'), cert: fixture('cert.pem') }

const toArrayBuffer = (bytes: Uint8Array): ArrayBuffer => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
const hmac = (key: ArrayBuffer, data: ArrayBuffer): Buffer => createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest()

export const serverCrypto: QUICServerCrypto = {
  key: toArrayBuffer(Buffer.alloc(32, 7)),
  ops: {
    sign: async (key, data) => toArrayBuffer(hmac(key, data)),
    verify: async (key, data, signature) => {
      const expected = hmac(key, data)
      const given = Buffer.from(signature)
      return given.length === expected.length && timingSafeEqual(given, expected)
    },
  },
}

export const clientCrypto: QUICClientCrypto = {
  ops: {
    randomBytes: async (data) => {
      randomFillSync(new Uint8Array(data))
    },
  },
}

export interface Pair {
  readonly client: InstanceType<Library['QUICClient']>
  /** The server's side of the connection (once the server accepted it). */
  readonly server: () => Promise<QUICConnection>
  /** Streams the server's connection announced, in order. */
  readonly serverStreams: QUICStream[]
  readonly close: () => Promise<void>
}

/** A server and a connected client on loopback, with the library's default settings unless given. */
export async function connect(
  lib: Library,
  options: {
    serverConfig?: Partial<QUICServerConfigInput>
    clientConfig?: Partial<QUICClientConfigInput>
  } = {},
): Promise<Pair> {
  const serverSocket = new lib.QUICSocket({ logger })
  await serverSocket.start({ host: '127.0.0.1', port: 0 })
  const server = new lib.QUICServer({ crypto: serverCrypto, socket: serverSocket, config: { key: tls.key, cert: tls.cert, ...options.serverConfig }, logger })
  const serverStreams: QUICStream[] = []
  const accepted = new Promise<QUICConnection>((resolve) => {
    server.addEventListener(lib.events.EventQUICServerConnection.name, (event: Event) => {
      const connection = (event as InstanceType<typeof lib.events.EventQUICServerConnection>).detail
      // Streams the peer opened while the connection was starting are already in its map.
      for (const stream of connection.streamMap.values()) if (stream.initiated === 'peer') serverStreams.push(stream)
      connection.addEventListener(lib.events.EventQUICConnectionStream.name, (event: Event) => {
        serverStreams.push((event as InstanceType<typeof lib.events.EventQUICConnectionStream>).detail)
      })
      resolve(connection)
    })
  })
  await server.start()
  const clientSocket = new lib.QUICSocket({ logger })
  await clientSocket.start({ host: '127.0.0.1', port: 0 })
  const client = await lib.QUICClient.createQUICClient({
    host: '127.0.0.1',
    port: serverSocket.port,
    socket: clientSocket,
    crypto: clientCrypto,
    config: { verifyPeer: false, ...options.clientConfig },
    logger,
  })
  return {
    client,
    server: () => accepted,
    serverStreams,
    close: async () => {
      await client.destroy({ force: true }).catch(() => {})
      await server.stop({ force: true }).catch(() => {})
      await serverSocket.stop({ force: true }).catch(() => {})
      await clientSocket.stop({ force: true }).catch(() => {})
    },
  }
}

/** Write `data` on a new stream of `connection` and end it. */
export async function send(connection: QUICConnection, data: Uint8Array, type: 'bidi' | 'uni' = 'uni'): Promise<void> {
  const stream = connection.newStream(type)
  const writer = stream.writable.getWriter()
  await writer.write(data)
  await writer.close()
}

/** Everything `stream` delivers until it ends. */
export async function readAll(stream: QUICStream): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream.readable) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** A client stream of `pair` with `data` written on it, and the server's side of it once announced. */
export async function openedStream(pair: Pair, data: Uint8Array): Promise<{ writer: WritableStreamDefaultWriter<Uint8Array>; served: QUICStream }> {
  const writer = pair.client.connection.newStream('bidi').writable.getWriter()
  await writer.write(data)
  await waitFor(() => pair.serverStreams.length === 1)
  return { writer, served: pair.serverStreams[0] as QUICStream }
}

export async function waitFor(condition: () => boolean, timeout = 5000): Promise<void> {
  const until = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}


/**
 * A minimal accept gate (tests only): an Initial without a token gets a
 * Retry whose token is its original DCID; the Initial that brings it back is
 * handed to `onToken` with that DCID and the server's `accept`.
 */
export function retryGate(
  socket: QUICSocket,
  onToken: (original: QUICConnectionId, accept: Parameters<QUICServerAcceptGate>[1]) => Promise<void>,
): QUICServerAcceptGate {
  return async ({ header, remoteInfo }, accept) => {
    if (header.ty !== patched.native.quiche.Type.Initial) return
    if (header.token === undefined || header.token.byteLength === 0) {
      const retry = Buffer.alloc(1500)
      const scid = randomBytes(patched.native.quiche.MAX_CONN_ID_LEN)
      const length = patched.native.quiche.retry(header.scid, header.dcid, scid, header.dcid, header.version, retry)
      await socket.send_(retry, 0, length, remoteInfo.port, remoteInfo.host)
      return
    }
    await onToken(patched.QUICConnectionId.fromBuffer(Buffer.from(header.token)), accept)
  }
}
