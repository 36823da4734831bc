// Where a Crust QUIC connect's time goes, on the client, in five phases:
//   beforeLibrary  node.connect() until the transport calls the library (core dialer, transport dial set-up)
//   library        the library's QUIC handshake (QUICClient.createQUICClient, with Crust's config and certificate check)
//   glue           library done -> HELLO stream opened (dialOn's loop turn, QuicConnection and message channel, core)
//   hello          HELLO written -> first bytes of WELCOME read (the listener's whole accept path and handshake)
//   after          WELCOME read -> node.connect() resolves (parse, checks, registration, events)
// Sequential connects against a Crust server child; prints the median of each phase and the
// client's CPU per connect.
//
//   npx tsc -b && node packages/transport-quic/bench/phase-connect.mjs [connects=200]
import { createNode } from '@crust/core'
import { QUICClient } from '@crust/quic-lib'
import { quic } from '../dist/index.js'
import { QuicConnection } from '../dist/quic-connection.js'
import { serverChild as server } from './server-child.mjs'

const total = Number(process.argv[2] ?? 200)
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
const child = server([])
let exitCode = 0
try {
  await child.ready
  const info = await child.call({ cmd: 'start', impl: 'crust-quic' })
  const node = await createNode({ networkName: 'quic-bench', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
  await node.start()
  // Marks of the connect in progress (performance.now()).
  let marks = {}
  const createClient = QUICClient.createQUICClient
  QUICClient.createQUICClient = async function (...args) {
    marks.library ??= performance.now()
    const client = await createClient.apply(this, args)
    marks.glue ??= performance.now()
    return client
  }
  const openStream = QuicConnection.prototype.openStream
  QuicConnection.prototype.openStream = async function (...args) {
    const stream = await openStream.apply(this, args)
    if (marks.hello !== undefined) return stream
    marks.hello = performance.now()
    const iterate = stream[Symbol.asyncIterator].bind(stream)
    stream[Symbol.asyncIterator] = () => {
      const iterator = iterate()
      const next = iterator.next.bind(iterator)
      iterator.next = async (...a) => {
        const result = await next(...a)
        marks.after ??= performance.now()
        return result
      }
      return iterator
    }
    return stream
  }
  const names = ['beforeLibrary', 'library', 'glue', 'hello', 'after']
  const phases = Object.fromEntries([...names, 'total'].map((name) => [name, []]))
  let cpu = 0
  for (let i = 0; i < total + 5; i++) {
    marks = {}
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const conn = await node.connect({ peerId: info.peerId, addresses: info.addresses })
    const end = performance.now()
    const used = process.cpuUsage(c0)
    if (i >= 5) {
      const points = [t0, marks.library, marks.glue, marks.hello, marks.after, end]
      names.forEach((name, k) => phases[name].push(points[k + 1] - points[k]))
      phases.total.push(end - t0)
      cpu += used.user + used.system
    }
    await conn.close()
    while (node.connections.includes(conn)) await new Promise((r) => setTimeout(r, 1))
  }
  const split = names.map((name) => `${name} ${median(phases[name]).toFixed(2)}`).join(', ')
  process.stderr.write(`median ms: connect ${median(phases.total).toFixed(2)} = ${split}; client CPU µs/connect ${Math.round(cpu / total)}\n`)
  await node.stop()
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`)
  exitCode = 1
} finally {
  await child.stop()
}
process.exit(exitCode)
