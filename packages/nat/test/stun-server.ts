/**
 * A minimal real STUN server for loopback tests (the lab uses coturn): answers
 * binding requests with XOR-MAPPED-ADDRESS, or with what a test scripts.
 */
import { type RemoteInfo, type Socket, createSocket } from 'node:dgram'
import stun from 'stun'
import { afterEach } from 'vitest'

export interface TestStunServer {
  readonly host: string
  readonly port: number
  readonly requests: number
  close(): Promise<void>
}

type Answer = (request: Buffer, from: RemoteInfo, socket: Socket) => void

/** Proper binding answers: where the request came from. */
export const honest: Answer = (request, from, socket) => {
  const decoded = stun.decode(request)
  const response = stun.createMessage(stun.constants.STUN_BINDING_RESPONSE, decoded.transactionId)
  response.addXorAddress(from.address, from.port)
  socket.send(response.toBuffer(), from.port, from.address)
}

export async function startStunServer(host = '127.0.0.1', answer: Answer = honest): Promise<TestStunServer> {
  const socket = createSocket('udp4')
  let requests = 0
  socket.on('message', (data, from) => {
    requests++
    answer(data, from, socket)
  })
  await new Promise<void>((resolve) => socket.bind(0, host, resolve))
  return {
    host,
    port: socket.address().port,
    get requests() {
      return requests
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}

const running: TestStunServer[] = []

/** Start a test STUN server (see {@link startStunServer}) that is closed after the test. */
export async function server(...args: Parameters<typeof startStunServer>): Promise<TestStunServer> {
  const started = await startStunServer(...args)
  running.push(started)
  return started
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})
