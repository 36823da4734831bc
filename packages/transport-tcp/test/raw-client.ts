import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import type { CrustNode } from '@crust/core'
import { MESSAGE_VERSION, MessageKind, createIdentity, createSecurityContext, hashNetworkName, tlsOptionsFor } from '@crust/core/plugin'
import { sleep } from '@crust/core/testing'
import { type Frame, FrameDecoder, FrameType, HEADER_LENGTH, encodeFrame } from '@crust/mux'

export { encodeFrame }

/** The node's first TCP port. */
export function port(node: CrustNode): number {
  return Number(new URL((node.addresses[0] as string).replace('tcp://', 'http://')).port)
}

/** A mux frame built by hand; `length` may lie about the payload (raw-byte attacks). */
export function muxFrame(type: number, flags: number, streamId: number, length: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH)
  header[1] = type
  header.writeUInt16BE(flags, 2)
  header.writeUInt32BE(streamId, 4)
  header.writeUInt32BE(length, 8)
  return Buffer.concat([header, payload])
}

/** A Crust message header (8 bytes) declaring `length`, followed by `payload`. */
export function message(kind: number, payload: Buffer, length = payload.length): Buffer {
  const header = Buffer.alloc(8)
  header[0] = MESSAGE_VERSION
  header[1] = kind
  header.writeUInt32BE(length, 4)
  return Buffer.concat([header, payload])
}

/** A peer that completed TLS with a real identity and speaks raw mux frames. */
export interface RawTlsClient {
  readonly socket: TLSSocket
  /** Every byte received so far. */
  received(): Buffer
  /** Settles when the socket closed, for any reason. */
  readonly closed: Promise<void>
}

/** A TLS client with a valid self-signed identity that speaks raw bytes after the handshake. */
export async function rawTlsClient(node: CrustNode): Promise<RawTlsClient> {
  const { identity } = await createIdentity({})
  const security = createSecurityContext(identity, { mode: 'peer-id' })
  const socket = tlsConnect({ ...tlsOptionsFor(security, 'client'), host: '127.0.0.1', port: port(node) })
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve())
    socket.once('error', reject)
  })
  return { socket, received: () => Buffer.concat(chunks), closed }
}

/**
 * A raw client that also completed Crust's HELLO/WELCOME on stream 1, so the
 * node counts it as an authenticated, established peer. Its next stream id is 3.
 */
export async function rawPeer(node: CrustNode, networkName = 'test-net'): Promise<RawTlsClient> {
  const client = await rawTlsClient(node)
  const hello = message(MessageKind.HELLO, Buffer.from(JSON.stringify({ v: 1, network: hashNetworkName(networkName), role: 'client' })))
  client.socket.write(encodeFrame(FrameType.DATA, 0x1 | 0x4, 1, hello))
  const deadline = Date.now() + 5_000
  for (;;) {
    const frames = new FrameDecoder().feed(client.received())
    if (frames.some((f: Frame) => f.type === FrameType.DATA && f.streamId === 1 && (f.flags & 0x4) !== 0)) return client
    if (Date.now() > deadline) throw new Error('no WELCOME from the node')
    await sleep(10)
  }
}

/** The close code of the GO_AWAY frame the node sent, if any. */
export function goAwayCode(bytes: Buffer): number | undefined {
  let offset = 0
  while (offset + HEADER_LENGTH <= bytes.length) {
    const type = bytes[offset + 1]
    const length = bytes.readUInt32BE(offset + 8)
    if (type === FrameType.GO_AWAY) return bytes.readUInt32BE(offset + 4)
    offset += HEADER_LENGTH + (type === FrameType.DATA || type === FrameType.GO_AWAY ? length : 0)
  }
  return undefined
}

/**
 * Write `frame` repeatedly, `batch` copies per write, for `ms` or until the
 * socket closes, honouring our own socket's backpressure (the attacker does
 * not need to buffer without bound either).
 */
export async function flood(socket: TLSSocket, frame: Buffer, ms: number, batch = 4096): Promise<number> {
  const chunk = Buffer.concat(Array.from({ length: batch }, () => frame))
  const end = Date.now() + ms
  let sent = 0
  while (Date.now() < end && !socket.destroyed && socket.writable) {
    sent += batch
    if (!socket.write(chunk)) {
      await Promise.race([
        new Promise((resolve) => socket.once('drain', resolve)),
        sleep(50),
      ])
    }
  }
  return sent
}
