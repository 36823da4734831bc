import { BlockList, isIP } from 'node:net'
import type { DatagramEndpoint, DatagramPeer } from '@crust/core'
import { AbortError } from '@crust/core'
import { isLoopback, normalizeIp } from '@crust/core/plugin'
import stun from 'stun'
import { StunError } from './errors.js'

/** Bytes 4-7 of every RFC 5389 STUN message. */
const MAGIC_COOKIE = 0x2112a442
const HEADER_SIZE = 20

/** What a STUN server answered to one binding request. */
export interface BindingAnswer {
  /** Where the server saw the request come from: our reflexive address. */
  readonly mapped: DatagramPeer
  /** The server's alternate address (RFC 5780 OTHER-ADDRESS), when it has one. */
  readonly other: DatagramPeer | undefined
}

/** Retransmission schedule of one binding request. */
export interface BindingTiming {
  /** Wait this long for the first answer (ms); doubled per retransmission, as RFC 5389 §7.2.1 asks. */
  readonly timeout: number
  /** Retransmissions after the first request. */
  readonly retries: number
  readonly signal?: AbortSignal
}

/** True when `data` looks like a STUN message (two zero bits, the magic cookie). */
export function isStunMessage(data: Uint8Array): boolean {
  if (data.byteLength < HEADER_SIZE || ((data[0] as number) & 0xc0) !== 0) return false
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).readUInt32BE(4) === MAGIC_COOKIE
}

/**
 * Send a STUN binding request from the node's datagram socket and wait for
 * the matching answer: same transaction id, from the server we asked. Other
 * datagrams (strangers, garbage, answers to other requests) are ignored.
 */
export function bindingRequest(endpoint: DatagramEndpoint, server: DatagramPeer, timing: BindingTiming): Promise<BindingAnswer> {
  const request = stun.createMessage(stun.constants.STUN_BINDING_REQUEST as number)
  const transaction = request.transactionId
  const packet = request.toBuffer()
  const serverHost = normalizeIp(server.host)
  return new Promise<BindingAnswer>((resolve, reject) => {
    let attempt = 0
    let timer: NodeJS.Timeout | undefined
    const finish = (error: Error | undefined, answer?: BindingAnswer): void => {
      clearTimeout(timer)
      unsubscribe()
      timing.signal?.removeEventListener('abort', onAbort)
      if (error !== undefined) reject(error)
      else if (answer !== undefined) resolve(answer)
    }
    const onAbort = (): void => finish(new AbortError())
    const unsubscribe = endpoint.onForeignDatagram((data, from) => {
      if (from.port !== server.port || normalizeIp(from.host) !== serverHost || !isStunMessage(data)) return
      const answer = decodeAnswer(data, transaction)
      // An absurd mapped address is ignored like garbage: a genuine answer may still come.
      if (answer !== undefined && isPlausibleMapping(answer.mapped, serverHost)) finish(undefined, answer)
    })
    const send = (): void => {
      if (attempt > timing.retries) {
        finish(new StunError('timeout', `no answer from STUN server ${server.host}:${server.port} after ${attempt} requests`))
        return
      }
      const wait = timing.timeout * 2 ** attempt
      attempt++
      void endpoint.send(packet, server)
      timer = setTimeout(send, wait)
    }
    if (timing.signal?.aborted) {
      finish(new AbortError())
      return
    }
    timing.signal?.addEventListener('abort', onAbort, { once: true })
    send()
  })
}

/** Decode a binding success answer to `transaction`; undefined for anything else (never throws). */
function decodeAnswer(data: Uint8Array, transaction: Buffer): BindingAnswer | undefined {
  let message: ReturnType<typeof stun.decode>
  try {
    message = stun.decode(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
  } catch {
    return undefined // garbage that only looked like STUN
  }
  if (message.type !== stun.constants.STUN_BINDING_RESPONSE || !transaction.equals(message.transactionId)) return undefined
  const mapped = addressValue(safe(() => message.getXorAddress())) ?? addressValue(safe(() => message.getAddress()))
  if (mapped === undefined) return undefined
  const otherType = stun.constants.STUN_ATTR_OTHER_ADDRESS as number
  return { mapped, other: addressValue(safe(() => message.getAttribute(otherType)?.value)) }
}

function safe<T>(read: () => T): T | undefined {
  try {
    return read()
  } catch {
    return undefined
  }
}

function addressValue(value: unknown): DatagramPeer | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const { address, port } = value as { address?: unknown; port?: unknown }
  if (typeof address !== 'string' || typeof port !== 'number' || port <= 0 || port > 65535) return undefined
  return { host: normalizeIp(address), port }
}

/** Addresses no NAT maps a socket to, whatever the path. */
const impossible = new BlockList()
impossible.addSubnet('0.0.0.0', 8, 'ipv4')
impossible.addSubnet('224.0.0.0', 4, 'ipv4')
impossible.addSubnet('240.0.0.0', 4, 'ipv4') // reserved, and 255.255.255.255
impossible.addSubnet('ff00::', 8, 'ipv6')
impossible.addAddress('::', 'ipv6')
/** Addresses only plausible when the server itself is reached over that scope (and loopback). */
const linkLocal = new BlockList()
linkLocal.addSubnet('169.254.0.0', 16, 'ipv4')
linkLocal.addSubnet('fe80::', 10, 'ipv6')

function inList(list: BlockList, ip: string): boolean {
  const family = isIP(ip)
  return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * Whether a STUN server at `serverHost` can truly have seen us at `mapped`:
 * never an unspecified, multicast, broadcast or reserved address, a port 0,
 * or another family than the server's; loopback and link-local only when the
 * server is reached over that same scope.
 */
export function isPlausibleMapping(mapped: DatagramPeer, serverHost: string): boolean {
  const ip = normalizeIp(mapped.host)
  const server = normalizeIp(serverHost)
  if (isIP(ip) === 0 || isIP(ip) !== isIP(server) || mapped.port <= 0 || mapped.port > 65535) return false
  if (inList(impossible, ip)) return false
  if (isLoopback(ip) && !isLoopback(server)) return false
  if (inList(linkLocal, ip) && !inList(linkLocal, server)) return false
  return true
}
