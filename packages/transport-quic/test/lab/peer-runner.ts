/**
 * A Crust node in a veth lab namespace (see veth.ts), run from the sources
 * through tsx and driven by JSON lines on stdin; replies on stdout.
 */
import { createInterface } from 'node:readline'
import { type Connection, type CrustNode, createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { quic } from '../../src/index.js'
import type { PeerStartParams } from './veth.js'

let node: CrustNode | undefined
const running = (): CrustNode => {
  if (!node) throw new Error('not started')
  return node
}
const connectionTo = (peerId: string): Connection => {
  const connection = running().getConnection(peerId)
  if (!connection) throw new Error(`no connection to ${peerId}`)
  return connection
}

const methods: Record<string, (params: never) => Promise<unknown>> = {
  async start(params: PeerStartParams & { host: string }) {
    const transport = params.transport ?? 'quic'
    const port = params.port ?? 0
    node = await createNode({
      networkName: 'test-net',
      logLevel: 'error',
      bootstrap: { cache: false },
      ...(params.identityFile ? { identity: { keyFile: params.identityFile } } : {}),
      ...params.config,
      listen: [`${transport}://${params.host}:${port}`],
      transports: [transport === 'quic' ? quic({ host: params.host, ...params.quic }) : tcp()],
    })
    node.handle((message) => {
      if (!message.isRequest) return undefined
      const size = Number(Buffer.from(message.data).toString()) || 0
      const answer = size > 0 ? Buffer.alloc(size, 7) : Buffer.from('answer')
      // 20 ms: the answer is handed to the transport by then (written, not yet delivered).
      if (params.afterAnswer === 'close') setTimeout(() => void message.connection.close(), 20)
      if (params.afterAnswer === 'stop') setTimeout(() => void node?.stop(), 20)
      return answer
    })
    await node.start()
    return { peerId: node.peerId, addresses: node.addresses }
  },
  async connect(params: { peer: { peerId: string; addresses: string[] } }) {
    const connection = await running().connect(params.peer, { retry: false })
    return { peerId: connection.peerId }
  },
  async request(params: { peerId: string; size: number }) {
    const answer = await connectionTo(params.peerId).request(Buffer.from(String(params.size)))
    return answer.byteLength
  },
  /** The connection's path as quiche sees it (datagram size it sends, RTT). */
  async pathOf(params: { peerId: string }) {
    const transport = (connectionTo(params.peerId) as unknown as { transportConnection: { quic?: { conn: { maxSendUdpPayloadSize(): number } } } }).transportConnection
    return { maxSendUdpPayloadSize: transport.quic?.conn.maxSendUdpPayloadSize() }
  },
  async close(params: { peerId: string }) {
    const started = performance.now()
    await connectionTo(params.peerId).close()
    return performance.now() - started
  },
  async stop() {
    const started = performance.now()
    await node?.stop()
    return performance.now() - started
  },
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line) as { id: number; method: string; params: unknown }
  const method = methods[request.method]
  const reply = (body: object): boolean => process.stdout.write(`${JSON.stringify({ id: request.id, ...body })}\n`)
  if (!method) {
    reply({ error: { name: 'Error', message: `unknown method ${request.method}` } })
    return
  }
  method(request.params as never).then(
    (result) => reply({ result: result ?? null }),
    (error: Error) => reply({ error: { name: error.name, message: error.message } }),
  )
})
process.stdin.on('end', () => void node?.stop().finally(() => process.exit(0)))
