// Server side of one benchmark scenario, run as a child process of bench/run.mjs
// (child_process.fork) so that client and server each get their own core.
// Commands arrive over IPC: { id, cmd: 'start' | 'cpu' | 'memory' | 'stop', ... };
// every command is answered with { id, ok, ... } or { id, ok: false, error }.
import { createServer as createTlsServer } from 'node:tls'
import { createNode } from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import { MAX_MESSAGE_SIZE, NETWORK, REPLY, encodeFrame, frameReader, rawTlsOptions } from './common.mjs'

const REPLY_FRAME = encodeFrame(REPLY)

/** @type {{ connectionCount(): number, stop(): Promise<void> } | undefined} */
let server

async function startCrust() {
  const node = await createNode({
    networkName: NETWORK,
    bootstrap: { cache: false },
    transports: [tcp({ host: '127.0.0.1' })],
    maxMessageSize: MAX_MESSAGE_SIZE,
    // Every benchmark client comes from 127.0.0.1 (one address, one /24); the idle-memory scenario holds 205 at once.
    connection: { maxInboundPerIp: 1024, maxInboundPerSubnet: 1024, maxPendingInbound: 1024, maxConnections: 1024 },
  })
  node.handle((message) => (message.isRequest ? REPLY : undefined))
  await node.start()
  return {
    info: { peerId: node.peerId, addresses: node.addresses },
    connectionCount: () => node.connections.length,
    stop: () => node.stop(),
  }
}

async function startRawTls() {
  const sockets = new Set()
  let established = 0
  const tlsServer = createTlsServer(await rawTlsOptions('server'), (socket) => {
    socket.setNoDelay(true)
    sockets.add(socket)
    let counted = false
    let answers = 0
    const push = frameReader(() => {
      answers++
    })
    socket.on('data', (chunk) => {
      push(chunk)
      if (answers === 0) return
      // One write for every frame completed by this chunk.
      socket.write(answers === 1 ? REPLY_FRAME : Buffer.concat(Array(answers).fill(REPLY_FRAME)))
      answers = 0
      if (!counted) {
        counted = true // established = TLS done and one request answered (same as Crust's handshake)
        established++
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      sockets.delete(socket)
      if (counted) established--
    })
  })
  tlsServer.on('tlsClientError', () => {})
  await new Promise((resolve, reject) => {
    tlsServer.once('error', reject)
    tlsServer.listen({ host: '127.0.0.1', port: 0 }, resolve)
  })
  return {
    info: { port: tlsServer.address().port },
    connectionCount: () => established,
    stop: async () => {
      const closed = new Promise((resolve) => tlsServer.close(resolve))
      for (const socket of sockets) socket.destroy()
      await closed
    },
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function collectGarbage() {
  if (typeof global.gc === 'function') {
    global.gc()
    global.gc()
  }
}

/** Wait until `expect` connections are established, let them settle, collect garbage, and report memory. */
async function measureMemory(expect) {
  const deadline = Date.now() + 30_000
  while (server.connectionCount() < expect) {
    if (Date.now() > deadline) throw new Error(`only ${server.connectionCount()} of ${expect} connections arrived`)
    await sleep(20)
  }
  await sleep(300)
  collectGarbage()
  await sleep(100)
  collectGarbage()
  const usage = process.memoryUsage()
  return {
    connections: server.connectionCount(),
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    gc: typeof global.gc === 'function',
  }
}

async function handle(message) {
  switch (message.cmd) {
    case 'start':
      server = message.impl === 'crust-tcp' ? await startCrust() : await startRawTls()
      return server.info
    case 'cpu': {
      const { user, system } = process.cpuUsage()
      return { micros: user + system }
    }
    case 'memory':
      return measureMemory(message.expect)
    case 'stop':
      await server?.stop()
      server = undefined
      return {}
    default:
      throw new Error(`unknown command ${message.cmd}`)
  }
}

process.on('message', (message) => {
  handle(message).then(
    (result) => process.send({ id: message.id, ok: true, ...result }),
    (error) => process.send({ id: message.id, ok: false, error: String(error?.stack ?? error) }),
  )
})
// The parent going away (or closing the IPC channel) ends this process.
process.on('disconnect', () => process.exit(0))
