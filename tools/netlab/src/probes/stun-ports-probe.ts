/**
 * Run inside a lab host: open `sockets` UDP sockets in turn and ask the STUN
 * server at both addresses from each, then print every mapped port in the
 * order the mappings were made, as JSON. A sequential allocator shows
 * consecutive ports; a random one does not.
 */
import { createSocket } from 'node:dgram'
import stun from 'stun'

const [first, second, count = '3'] = process.argv.slice(2) as [string, string, string?]
const ports: number[] = []
for (let i = 0; i < Number(count); i++) {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, resolve))
  for (const server of [first, second]) {
    const response = await stun.request(`${server}:3478`, { socket, timeout: 300, retries: 3 })
    ports.push(response.getXorAddress().port)
  }
  socket.close()
}
process.stdout.write(`${JSON.stringify({ ports })}\n`)
