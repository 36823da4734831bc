/**
 * Micro-benchmark of @crust/mux over a TLS 1.3 loopback socket.
 * Run: npx tsx packages/mux/bench/mux-bench.ts [--seconds 3] [--bulk-mib 256] [--in-flight 64]
 *      [--message-size 1024] [--max-window 16777216]
 * Prints JSON: request/response pairs per second with a new stream per
 * message (64 in flight, 1 KiB each) and bulk MB/s on one stream.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import type { TransportLimits } from '@crust/core'
import { Muxer } from '../src/index.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const seconds = option('seconds', 3)
const bulkMiB = option('bulk-mib', 256)
const inFlight = option('in-flight', 64)
const messageSize = option('message-size', 1024)
const maxWindow = option('max-window', 16 * 1024 * 1024)

const limits: TransportLimits = { idleTimeout: 0, keepAliveInterval: 0, handshakeTimeout: 10_000, maxInboundStreams: 1024 }

function certificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'crust-mux-bench-'))
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=bench', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')],
      { stdio: 'ignore' },
    )
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function tlsPair(material: { key: string; cert: string }): Promise<{ client: Muxer; server: Muxer }> {
  const listener = tls.createServer({ ...material, minVersion: 'TLSv1.3' })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const { port } = listener.address() as net.AddressInfo
  const accepted = new Promise<tls.TLSSocket>((resolve) => listener.once('secureConnection', resolve))
  const socket = tls.connect({ port, host: '127.0.0.1', ca: material.cert, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined })
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve)
    socket.once('error', reject)
  })
  const serverSocket = await accepted
  listener.close()
  return {
    client: new Muxer(socket, { direction: 'outbound', limits, maxWindow }),
    server: new Muxer(serverSocket, { direction: 'inbound', limits, maxWindow }),
  }
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks)
}

async function requestResponse(material: { key: string; cert: string }): Promise<number> {
  const { client, server } = await tlsPair(material)
  server.onStream((stream) => {
    void readAll(stream)
      .then((request) => stream.write(request, { end: true }))
      .catch(() => undefined)
  })
  const message = Buffer.alloc(messageSize, 1)
  let count = 0
  let stop = false
  const worker = async (): Promise<void> => {
    while (!stop) {
      const stream = await client.openStream({ bidirectional: true })
      await stream.write(message, { end: true })
      const response = await readAll(stream)
      if (response.length !== messageSize) throw new Error('bad response')
      count++
    }
  }
  // Warm up, then measure.
  const workers = Array.from({ length: inFlight }, worker)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const startCount = count
  const start = performance.now()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const pairs = count - startCount
  const elapsed = (performance.now() - start) / 1000
  stop = true
  await Promise.all(workers)
  await client.close()
  await server.closed
  return Math.round(pairs / elapsed)
}

async function bulk(material: { key: string; cert: string }): Promise<{ mbPerSecond: number; window: number }> {
  const { client, server } = await tlsPair(material)
  const total = bulkMiB * 1024 * 1024
  let window = 0
  const received = new Promise<number>((resolve) => {
    server.onStream((stream) => {
      void (async () => {
        let bytes = 0
        for await (const chunk of stream) bytes += chunk.length
        window = (stream as unknown as { receiveWindow: number }).receiveWindow
        resolve(bytes)
      })()
    })
  })
  const stream = await client.openStream({ bidirectional: false })
  const block = Buffer.alloc(1024 * 1024, 7)
  const start = performance.now()
  for (let sent = 0; sent < total; sent += block.length) await stream.write(block)
  await stream.end()
  const bytes = await received
  const elapsed = (performance.now() - start) / 1000
  await client.close()
  await server.closed
  if (bytes !== total) throw new Error(`received ${bytes} of ${total} bytes`)
  return { mbPerSecond: Math.round(bytes / 1e6 / elapsed), window }
}

const material = certificate()
const pairsPerSecond = await requestResponse(material)
const throughput = await bulk(material)
console.log(
  JSON.stringify(
    {
      transport: 'TLS 1.3 over TCP loopback',
      node: process.version,
      requestResponse: { pairsPerSecond, inFlight, messageBytes: messageSize, seconds, streamPerMessage: true },
      bulk: { megabytesPerSecond: throughput.mbPerSecond, totalMiB: bulkMiB, finalReceiveWindow: throughput.window },
    },
    null,
    2,
  ),
)
