/** File sharing in a few lines: find peers by LAN beacon, then one byte stream per file (`name\n`, then the bytes). */
import { createReadStream, createWriteStream } from 'node:fs'
import { basename, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { type CrustNode, createNode } from '@crust/core'
import { beacon } from '@crust/discovery-beacon'
import { tcp } from '@crust/transport-tcp'

export const PROTOCOL = '/file-share/1'

/**
 * A node on 127.0.0.1 that finds the others on this machine by beacon (loopback mode) and connects to them.
 * `setup` registers handlers before it starts: peers learn its protocols in the handshake.
 */
export async function startPeer(beaconPort = 5485, setup: (node: CrustNode) => void = () => {}): Promise<CrustNode> {
  const discovery = [beacon({ loopback: true, port: beaconPort, autoConnect: true, interval: 1_000 })]
  const node = await createNode({ networkName: 'file-share', transports: [tcp()], listen: ['tcp://127.0.0.1:0'], discovery, logLevel: 'error' })
  setup(node)
  await node.start()
  return node
}

/** Save the files peers send into `dir` (never over an existing file), and answer `saved <name>`. */
export function receiveInto(node: CrustNode, dir: string, onSaved: (path: string) => void = () => {}): void {
  node.handleStream(PROTOCOL, async (stream) => {
    const chunks = stream[Symbol.asyncIterator]()
    let head = Buffer.alloc(0)
    while (!head.includes(10)) {
      const next = await chunks.next()
      if (next.done || head.length > 255) return stream.abort() // no name line: not ours
      head = Buffer.concat([head, next.value])
    }
    const name = head.subarray(0, head.indexOf(10)).toString()
    if (name !== basename(name) || name.startsWith('.')) return stream.abort() // a path, not a name
    const path = join(dir, name)
    const rest = async function* () {
      yield head.subarray(head.indexOf(10) + 1)
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value
    }
    await pipeline(rest, createWriteStream(path, { flags: 'wx' })) // at the pace the disk takes it
    stream.end(`saved ${name}`)
    onSaved(path)
  })
}

/** Stream `file` to `peerId` (constant memory, any size); resolves to the receiver's answer. */
export async function sendTo(node: CrustNode, peerId: string, file: string): Promise<string> {
  const stream = await node.openStream(peerId, PROTOCOL)
  stream.write(`${basename(file)}\n`)
  await pipeline(createReadStream(file), stream) // ends our side when the file is sent
  let answer = ''
  for await (const chunk of stream) answer += chunk
  return answer
}
