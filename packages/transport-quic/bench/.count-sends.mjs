import dgram from 'node:dgram'
import { createNode } from '@crust/core'
import { quic } from '../dist/index.js'
import { serverChild } from './server-child.mjs'
const orig = dgram.Socket.prototype.send
let calls = 0, bytes = 0, big = 0; const sizes = new Map()
dgram.Socket.prototype.send = function (msg, ...rest) {
  calls++
  const len = typeof rest[0] === 'number' && typeof rest[1] === 'number' ? rest[1] : (msg.length ?? msg.byteLength)
  bytes += len; sizes.set(len, (sizes.get(len) ?? 0) + 1)
  return orig.call(this, msg, ...rest)
}
const child = serverChild([])
await child.ready
const info = await child.call({ cmd: 'start', impl: 'crust-quic' })
const node = await createNode({ networkName: 'quic-bench', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
await node.start()
const N = 100
const t0 = process.cpuUsage()
for (let i = 0; i < N; i++) {
  const c = await node.connect({ peerId: info.peerId, addresses: info.addresses })
  await c.close()
}
const t = process.cpuUsage(t0)
console.log('per connect: sends', calls / N, 'bytes', bytes / N, 'cpu µs', (t.user + t.system) / N)
console.log([...sizes].sort((a, b) => b[1] - a[1]).slice(0, 12))
await node.stop(); await child.stop()
