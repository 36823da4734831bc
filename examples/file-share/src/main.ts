#!/usr/bin/env node
/**
 * `file-share receive <dir>`: save what peers send, until Ctrl-C.
 * `file-share send <file>`: send it to the first peer found that receives, then exit.
 * Both on this machine (beacons in loopback mode); `--beacon-port <n>` to keep apart from other runs.
 */
import { parseArgs } from 'node:util'
import type { Connection } from '@crust/core'
import { PROTOCOL, receiveInto, sendTo, startPeer } from './file-share.js'

const { positionals, values } = parseArgs({ allowPositionals: true, options: { 'beacon-port': { type: 'string' } } })
const [command, path] = positionals
if ((command !== 'receive' && command !== 'send') || path === undefined) {
  console.error('usage: file-share receive <dir> | file-share send <file> [--beacon-port <n>]')
  process.exit(2)
}
const beaconPort = values['beacon-port'] === undefined ? undefined : Number(values['beacon-port'])
const node = await startPeer(beaconPort, (n) => {
  if (command === 'receive') receiveInto(n, path, (saved) => console.log(`saved ${saved}`))
})
if (command === 'receive') {
  console.log(`receiving into ${path} as ${node.peerId}`)
  const stop = (): void => void node.stop().then(() => process.exit(0))
  process.once('SIGINT', stop).once('SIGTERM', stop)
} else {
  const receiver = await new Promise<Connection>((resolve) => {
    const check = (c: Connection): void => void (c.remoteProtocols.includes(PROTOCOL) && resolve(c))
    for (const c of node.connections) check(c)
    node.on('connection:open', ({ connection }) => check(connection))
  })
  console.log(await sendTo(node, receiver.peerId, path))
  await node.stop()
}
