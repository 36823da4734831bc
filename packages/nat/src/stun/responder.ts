import { type RemoteInfo, type Socket, createSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import { TokenBucket } from '@crust/core/plugin'
import stun from 'stun'
import { isStunMessage } from './binding.js'

/** Options of {@link startStunResponder}. */
export interface StunResponderOptions {
  /** UDP port to answer on (default 3478; 0 picks a free one). */
  readonly port?: number
  /** Address to bind (default `0.0.0.0`; an IPv6 address such as `::` binds an IPv6 socket). */
  readonly host?: string
  /** Answers per second, all senders together (default 2,000): bounds what a spoofed flood can reflect. */
  readonly ratePerSecond?: number
  /** Largest burst of answers (default 4,000). */
  readonly burst?: number
}

/** Counters of a {@link StunResponder}. */
export interface StunResponderStats {
  /** Binding requests answered. */
  readonly answered: number
  /** Datagrams ignored: not a binding request, or over the rate. */
  readonly dropped: number
}

/** A running STUN responder. */
export interface StunResponder {
  /** Where it answers. */
  readonly host: string
  readonly port: number
  stats(): StunResponderStats
  /** Close the socket. */
  close(): Promise<void>
}

/** A binding request is a header and a few attributes; anything larger is not one we answer. */
const MAX_REQUEST_BYTES = 548

/**
 * A STUN responder (RFC 5389 binding requests, answered with
 * XOR-MAPPED-ADDRESS) on its own UDP socket, for infrastructure nodes such as
 * `crust serve`: what `stun({ servers })` clients ask. It keeps no state per
 * sender, answers only well-formed binding requests (an answer is 32-44 bytes
 * for a request of at least 20: no useful amplification), and caps answers
 * per second in total.
 *
 * @throws Error when the socket cannot be bound (e.g. the port is taken).
 */
export async function startStunResponder(options: StunResponderOptions = {}): Promise<StunResponder> {
  const host = options.host ?? '0.0.0.0'
  const bucket = new TokenBucket({ perSecond: options.ratePerSecond ?? 2_000, burst: options.burst ?? 4_000 })
  const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4')
  let answered = 0
  let dropped = 0
  socket.on('message', (data, from) => {
    if (answer(socket, data, from, bucket)) answered++
    else dropped++
  })
  // A send to a vanished sender must not crash the node; the socket stays open.
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(options.port ?? 3478, host, () => {
      socket.off('error', reject)
      resolve()
    })
  })
  return {
    host,
    port: socket.address().port,
    stats: () => ({ answered, dropped }),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}

/** Answer `data` if it is a binding request and the rate allows; true when answered. */
function answer(socket: Socket, data: Buffer, from: RemoteInfo, bucket: TokenBucket): boolean {
  if (data.byteLength > MAX_REQUEST_BYTES || !isStunMessage(data)) return false
  let request: ReturnType<typeof stun.decode>
  try {
    request = stun.decode(data)
  } catch {
    return false
  }
  if (request.type !== stun.constants.STUN_BINDING_REQUEST || !bucket.take()) return false
  const response = stun.createMessage(stun.constants.STUN_BINDING_RESPONSE, request.transactionId)
  response.addXorAddress(from.address, from.port)
  socket.send(response.toBuffer(), from.port, from.address)
  return true
}
