import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import type { TransportLimits, TransportStream } from '@crust/core'
import { type Frame, FrameDecoder, Muxer, type MuxerOptions } from '../src/index.js'

export const defaultLimits: TransportLimits = {
  idleTimeout: 0,
  keepAliveInterval: 0,
  handshakeTimeout: 10_000,
  maxInboundStreams: 256,
}

export interface MuxerPair {
  client: Muxer
  server: Muxer
  clientSocket: net.Socket
  serverSocket: net.Socket
  close(): Promise<void>
}

type SideOptions = Partial<Omit<MuxerOptions, 'direction' | 'limits'>> & { limits?: Partial<TransportLimits> }

function muxerOptions(direction: 'inbound' | 'outbound', options: SideOptions | undefined): MuxerOptions {
  return { ...options, direction, limits: { ...defaultLimits, ...options?.limits } }
}

/** Two sockets connected over 127.0.0.1. */
export async function tcpSockets(): Promise<{ client: net.Socket; server: net.Socket; listener: net.Server }> {
  const listener = net.createServer()
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const { port } = listener.address() as net.AddressInfo
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve))
  const client = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  const server = await accepted
  listener.close()
  return { client, server, listener }
}

/** A muxer pair over plain TCP loopback. */
export async function tcpPair(serverOptions?: SideOptions, clientOptions?: SideOptions): Promise<MuxerPair> {
  const { client: clientSocket, server: serverSocket } = await tcpSockets()
  return pair(clientSocket, serverSocket, serverOptions, clientOptions)
}

function pair(
  clientSocket: net.Socket,
  serverSocket: net.Socket,
  serverOptions?: SideOptions,
  clientOptions?: SideOptions,
): MuxerPair {
  const client = new Muxer(clientSocket, muxerOptions('outbound', clientOptions))
  const server = new Muxer(serverSocket, muxerOptions('inbound', serverOptions))
  return {
    client,
    server,
    clientSocket,
    serverSocket,
    async close() {
      await Promise.all([client.close(), server.close()])
    },
  }
}

export interface TlsMaterial {
  key: string
  cert: string
}

/** A throwaway self-signed P-256 certificate made with openssl. */
export function makeCertificate(): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'crust-mux-'))
  try {
    const key = join(dir, 'key.pem')
    const cert = join(dir, 'cert.pem')
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=test', '-keyout', key, '-out', cert],
      { stdio: 'ignore' },
    )
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Two TLS 1.3 sockets connected over 127.0.0.1. */
export async function tlsSockets(material: TlsMaterial): Promise<{ client: tls.TLSSocket; server: tls.TLSSocket }> {
  const listener = tls.createServer({ key: material.key, cert: material.cert, minVersion: 'TLSv1.3' })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const { port } = listener.address() as net.AddressInfo
  const accepted = new Promise<tls.TLSSocket>((resolve) => listener.once('secureConnection', resolve))
  const client = tls.connect({ port, host: '127.0.0.1', ca: material.cert, servername: 'test', minVersion: 'TLSv1.3', checkServerIdentity: () => undefined })
  await new Promise<void>((resolve, reject) => {
    client.once('secureConnect', resolve)
    client.once('error', reject)
  })
  const server = await accepted
  listener.close()
  return { client, server }
}

/** A muxer pair over TLS 1.3 loopback. */
export async function tlsPair(material: TlsMaterial, serverOptions?: SideOptions, clientOptions?: SideOptions): Promise<MuxerPair> {
  const { client, server } = await tlsSockets(material)
  return pair(client, server, serverOptions, clientOptions)
}

/** Read a stream to its end and return the bytes. */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Echo every incoming bidirectional stream back to its opener. */
export function echo(muxer: Muxer): void {
  muxer.onStream((stream: TransportStream) => {
    void (async () => {
      try {
        const data = await readAll(stream)
        if (stream.bidirectional) await stream.write(data, { end: true })
      } catch {
        // reset or closed: nothing to answer
      }
    })()
  })
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Wait until `predicate` holds, polling. */
export async function until(predicate: () => boolean, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}

/** A raw socket speaking to a muxer; records the frames the muxer sends. */
export interface RawPeer {
  muxer: Muxer
  raw: net.Socket
  frames: Frame[]
  /** Resolves when the raw socket closes. */
  rawClosed: Promise<void>
}

/** A muxer on one end of a loopback connection and a raw socket on the other. */
export async function rawPeer(side: 'inbound' | 'outbound', options?: SideOptions): Promise<RawPeer> {
  const { client, server } = await tcpSockets()
  const muxer = new Muxer(server, muxerOptions(side, options))
  const frames: Frame[] = []
  const decoder = new FrameDecoder()
  client.on('data', (chunk: Buffer) => {
    for (const frame of decoder.feed(chunk)) {
      // Copy payloads: the test inspects them later.
      frames.push({ ...frame, payload: frame.payload && Buffer.from(frame.payload) })
    }
  })
  client.on('error', () => {})
  const rawClosed = new Promise<void>((resolve) => client.once('close', () => resolve()))
  return { muxer, raw: client, frames, rawClosed }
}
