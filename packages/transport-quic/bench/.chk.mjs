import { createNode } from '@crust/core'
import { quic } from '../dist/index.js'
const b = await createNode({ networkName: 'x', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
await b.start()
const a = await createNode({ networkName: 'x', role: 'client', transports: [quic({ host: '127.0.0.1' })], logLevel: 'error' })
await a.start()
const conn = await a.connect({ peerId: b.peerId, addresses: b.addresses })
for (const t of [0, 100, 500, 1500]) {
  await new Promise((r) => setTimeout(r, t))
  const back = b.getConnection(a.peerId)
  console.log(t, conn.transportConnection.openChannels, back.transportConnection.openChannels, conn.transportConnection.quic.streamMap.size, back.transportConnection.quic.streamMap.size)
}
await a.stop(); await b.stop()
