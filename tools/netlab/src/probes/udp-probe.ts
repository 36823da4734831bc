/**
 * Run inside a lab host, to check a router's NAT loopback and isolation.
 * - `listen STUN_IP WAIT_MS`: open a UDP mapping (one STUN request), print
 *   `{"mapped":"ip:port","local":"port"}`, then answer the first datagram that arrives and
 *   print `{"from":"ip:port"}` (or `{"from":null}` after WAIT_MS).
 * - `send IP PORT WAIT_MS`: send one datagram and print where the answer came
 *   from, `{"reply":"ip:port"}` or `{"reply":null}`.
 */
import { createSocket } from 'node:dgram'
import stun from 'stun'

const [mode, ...args] = process.argv.slice(2)
const socket = createSocket('udp4')
await new Promise<void>((resolve) => socket.bind(0, resolve))
const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`)

/** The first datagram's source within `ms`, answering it; null when none came. */
function first(ms: number, answer: boolean): Promise<string | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms)
    socket.once('message', (_data, from) => {
      clearTimeout(timer)
      if (answer) socket.send('pong', from.port, from.address)
      resolve(`${from.address}:${from.port}`)
    })
  })
}

if (mode === 'listen') {
  const [server, wait] = args as [string, string]
  const response = await stun.request(`${server}:3478`, { socket, timeout: 300, retries: 3 })
  const mapped = response.getXorAddress()
  print({ mapped: `${mapped.address}:${mapped.port}`, local: String(socket.address().port) })
  print({ from: await first(Number(wait), true) })
} else {
  const [host, port, wait] = args as [string, string, string]
  const reply = first(Number(wait), false)
  socket.send('ping', Number(port), host)
  print({ reply: await reply })
}
socket.close()
