/**
 * Run inside a lab host: ask the STUN server at two addresses from ONE UDP
 * socket and print both mapped addresses as JSON. The same mapped port from
 * both means endpoint-independent mapping; different ports, endpoint-dependent.
 */
import { createSocket } from 'node:dgram'
import stun from 'stun'

const [first, second] = process.argv.slice(2) as [string, string]
const socket = createSocket('udp4')
await new Promise<void>((resolve) => socket.bind(0, resolve))
const ask = async (server: string): Promise<string> => {
  const response = await stun.request(`${server}:3478`, { socket, timeout: 300, retries: 3 })
  const mapped = response.getXorAddress()
  return `${mapped.address}:${mapped.port}`
}
const result = { local: socket.address().port, first: await ask(first), second: await ask(second) }
socket.close()
process.stdout.write(`${JSON.stringify(result)}\n`)
