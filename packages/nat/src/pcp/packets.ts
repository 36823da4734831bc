/**
 * PCP (RFC 6887) MAP / ANNOUNCE and NAT-PMP (RFC 6886) packets: encoding, and
 * defensive decoding of answers (length, version, opcode, echoed nonce and
 * ports checked; anything off is a `malformed` {@link PcpError}).
 * Pure functions over buffers: no sockets here.
 */
import { isIPv4 } from 'node:net'
import { PcpError } from './errors.js'

/** The port PCP and NAT-PMP servers listen on. */
export const SERVER_PORT = 5351
export const PCP_VERSION = 2
export const NATPMP_VERSION = 0
const RESPONSE_BIT = 0x80
export const PcpOpcode = { ANNOUNCE: 0, MAP: 1 } as const
const PCP_HEADER = 24
const MAP_PAYLOAD = 36
export const NONCE_BYTES = 12
/** PCP result codes this package reacts to (RFC 6887 §7.4). */
export const PcpResult = { SUCCESS: 0, UNSUPP_VERSION: 1, NOT_AUTHORIZED: 2, NO_RESOURCES: 8, CANNOT_PROVIDE_EXTERNAL: 11 } as const

export type MapProtocol = 'tcp' | 'udp'
const IANA_PROTOCOL: Record<MapProtocol, number> = { tcp: 6, udp: 17 }

/** A PCP MAP request: map `internalPort` of `clientIp`, preferring `externalPort`; lifetime 0 deletes. */
export interface PcpMapRequest {
  readonly clientIp: string
  readonly nonce: Uint8Array
  readonly protocol: MapProtocol
  readonly internalPort: number
  readonly externalPort: number
  readonly lifetime: number
}

/** What every answer carries: the result and the server's epoch (seconds since its state began). */
export interface AnswerHeader {
  readonly resultCode: number
  readonly epoch: number
}

/** A mapping the gateway granted (PCP MAP or NAT-PMP map answer). */
export interface MapAnswer extends AnswerHeader {
  readonly lifetime: number
  readonly internalPort: number
  readonly externalPort: number
  /** PCP says it in the answer; NAT-PMP needs a separate external address request. */
  readonly externalIp?: string
}

/** An IPv4 address as the 16-byte IPv4-mapped IPv6 form PCP carries. */
function writeMappedIpv4(buffer: Buffer, offset: number, ip: string): void {
  if (!isIPv4(ip)) throw new PcpError('malformed', `not an IPv4 address: ${ip}`)
  buffer.fill(0, offset, offset + 10)
  buffer.writeUInt16BE(0xffff, offset + 10)
  const octets = ip.split('.').map(Number)
  for (let i = 0; i < 4; i++) buffer[offset + 12 + i] = octets[i] as number
}

/** The IPv4 address in an IPv4-mapped IPv6 field, or undefined when it is not one. */
function readMappedIpv4(buffer: Buffer, offset: number): string | undefined {
  for (let i = 0; i < 10; i++) if (buffer[offset + i] !== 0) return undefined
  if (buffer.readUInt16BE(offset + 10) !== 0xffff) return undefined
  return [12, 13, 14, 15].map((i) => buffer[offset + i]).join('.')
}

function pcpHeader(opcode: number, lifetime: number, clientIp: string, payload: number): Buffer {
  const buffer = Buffer.alloc(PCP_HEADER + payload)
  buffer[0] = PCP_VERSION
  buffer[1] = opcode
  buffer.writeUInt32BE(lifetime, 4)
  writeMappedIpv4(buffer, 8, clientIp)
  return buffer
}

/** A PCP ANNOUNCE request: the cheapest question whose answer carries the server's epoch. */
export function encodePcpAnnounce(clientIp: string): Buffer {
  return pcpHeader(PcpOpcode.ANNOUNCE, 0, clientIp, 0)
}

/** A PCP MAP request (RFC 6887 §11.1); the suggested external address is left unspecified (`::ffff:0.0.0.0`). */
export function encodePcpMap(request: PcpMapRequest): Buffer {
  if (request.nonce.length !== NONCE_BYTES) throw new PcpError('malformed', `a MAP nonce is ${NONCE_BYTES} bytes`)
  const buffer = pcpHeader(PcpOpcode.MAP, request.lifetime, request.clientIp, MAP_PAYLOAD)
  const at = PCP_HEADER
  buffer.set(request.nonce, at)
  buffer[at + 12] = IANA_PROTOCOL[request.protocol]
  buffer.writeUInt16BE(request.internalPort, at + 16)
  buffer.writeUInt16BE(request.externalPort, at + 18)
  writeMappedIpv4(buffer, at + 20, '0.0.0.0')
  return buffer
}

/**
 * The version byte of an answer: 2 for PCP, 0 for NAT-PMP (a NAT-PMP-only
 * gateway answers a PCP request with version 0, result 1 "unsupported version").
 */
export function answerVersion(message: Buffer): number | undefined {
  return message.length >= 1 ? message[0] : undefined
}

/** Decode the header of a PCP answer to `opcode`. */
export function decodePcpHeader(message: Buffer, opcode: number): AnswerHeader & { readonly lifetime: number } {
  if (message.length < PCP_HEADER) throw new PcpError('malformed', `a PCP answer of ${message.length} bytes (at least ${PCP_HEADER})`)
  if (message[0] !== PCP_VERSION) throw new PcpError('malformed', `a PCP answer of version ${message[0]}`)
  if (message[1] !== (RESPONSE_BIT | opcode)) throw new PcpError('malformed', `a PCP answer to opcode ${(message[1] ?? 0) & 0x7f}, not ${opcode}`)
  if (message.length % 4 !== 0 || message.length > 1100) throw new PcpError('malformed', `a PCP answer of ${message.length} bytes`)
  return { resultCode: message[3] as number, lifetime: message.readUInt32BE(4), epoch: message.readUInt32BE(8) }
}

/**
 * Decode a PCP MAP answer and check it answers `request` (same nonce,
 * protocol and internal port); a non-zero result is returned, not thrown, so
 * the caller decides (a conflict may move on to another port).
 */
export function decodePcpMap(message: Buffer, request: PcpMapRequest): MapAnswer {
  const header = decodePcpHeader(message, PcpOpcode.MAP)
  if (message.length < PCP_HEADER + MAP_PAYLOAD) throw new PcpError('malformed', `a PCP MAP answer of ${message.length} bytes (at least ${PCP_HEADER + MAP_PAYLOAD})`)
  const at = PCP_HEADER
  if (!Buffer.from(request.nonce).equals(message.subarray(at, at + NONCE_BYTES))) throw new PcpError('malformed', 'a PCP MAP answer with another nonce')
  if (message[at + 12] !== IANA_PROTOCOL[request.protocol]) throw new PcpError('malformed', `a PCP MAP answer for protocol ${message[at + 12]}`)
  const internalPort = message.readUInt16BE(at + 16)
  if (internalPort !== request.internalPort) throw new PcpError('malformed', `a PCP MAP answer for internal port ${internalPort}, not ${request.internalPort}`)
  const externalPort = message.readUInt16BE(at + 18)
  const externalIp = readMappedIpv4(message, at + 20)
  if (header.resultCode === PcpResult.SUCCESS && request.lifetime > 0) {
    if (externalPort === 0) throw new PcpError('malformed', 'a PCP MAP answer granting external port 0')
    if (externalIp === undefined || externalIp === '0.0.0.0') throw new PcpError('malformed', 'a PCP MAP answer with no IPv4 external address')
  }
  return { ...header, internalPort, externalPort, ...(externalIp === undefined ? {} : { externalIp }) }
}

/** NAT-PMP opcodes: 0 external address, 1 map UDP, 2 map TCP (RFC 6886 §3). */
const NATPMP_MAP_OPCODE: Record<MapProtocol, number> = { udp: 1, tcp: 2 }

/** A NAT-PMP external address request. */
export function encodeNatPmpAddress(): Buffer {
  return Buffer.from([NATPMP_VERSION, 0])
}

/** A NAT-PMP map request (RFC 6886 §3.3); lifetime 0 deletes. */
export function encodeNatPmpMap(request: { protocol: MapProtocol; internalPort: number; externalPort: number; lifetime: number }): Buffer {
  const buffer = Buffer.alloc(12)
  buffer[0] = NATPMP_VERSION
  buffer[1] = NATPMP_MAP_OPCODE[request.protocol]
  buffer.writeUInt16BE(request.internalPort, 4)
  buffer.writeUInt16BE(request.externalPort, 6)
  buffer.writeUInt32BE(request.lifetime, 8)
  return buffer
}

function decodeNatPmpHeader(message: Buffer, opcode: number, length: number): AnswerHeader {
  if (message.length < 4) throw new PcpError('malformed', `a NAT-PMP answer of ${message.length} bytes`)
  if (message[0] !== NATPMP_VERSION) throw new PcpError('malformed', `a NAT-PMP answer of version ${message[0]}`)
  if (message[1] !== RESPONSE_BIT + opcode) throw new PcpError('malformed', `a NAT-PMP answer to opcode ${(message[1] ?? 0) & 0x7f}, not ${opcode}`)
  const resultCode = message.readUInt16BE(2)
  // An error answer may stop after the epoch; a success must be complete.
  const needed = resultCode === 0 ? length : 8
  if (message.length < needed) throw new PcpError('malformed', `a NAT-PMP answer of ${message.length} bytes (at least ${needed})`)
  return { resultCode, epoch: message.readUInt32BE(4) }
}

/** Decode a NAT-PMP external address answer. */
export function decodeNatPmpAddress(message: Buffer): AnswerHeader & { readonly externalIp?: string } {
  const header = decodeNatPmpHeader(message, 0, 12)
  if (header.resultCode !== 0) return header
  const externalIp = [8, 9, 10, 11].map((i) => message[i]).join('.')
  if (externalIp === '0.0.0.0') throw new PcpError('malformed', 'a NAT-PMP answer with external address 0.0.0.0')
  return { ...header, externalIp }
}

/** Decode a NAT-PMP map answer and check it answers `request`. */
export function decodeNatPmpMap(message: Buffer, request: { protocol: MapProtocol; internalPort: number; lifetime: number }): MapAnswer {
  const header = decodeNatPmpHeader(message, NATPMP_MAP_OPCODE[request.protocol], 16)
  if (header.resultCode !== 0) return { ...header, lifetime: 0, internalPort: request.internalPort, externalPort: 0 }
  const internalPort = message.readUInt16BE(8)
  if (internalPort !== request.internalPort) throw new PcpError('malformed', `a NAT-PMP answer for internal port ${internalPort}, not ${request.internalPort}`)
  const externalPort = message.readUInt16BE(10)
  if (externalPort === 0 && request.lifetime > 0) throw new PcpError('malformed', 'a NAT-PMP answer granting external port 0')
  return { ...header, internalPort, externalPort, lifetime: message.readUInt32BE(12) }
}

/** The group and port a PCP / NAT-PMP server announces itself on (RFC 6887 §14.1.3, RFC 6886 §3.2.1). */
export const ANNOUNCE_GROUP = '224.0.0.1'
export const ANNOUNCE_PORT = 5350

/**
 * Whether `message` is an unsolicited announcement: a PCP ANNOUNCE answer or
 * a NAT-PMP external address answer (both sent by a gateway that restarted or
 * changed address).
 */
export function isAnnouncement(message: Buffer): boolean {
  try {
    if (message[0] === PCP_VERSION) return decodePcpHeader(message, PcpOpcode.ANNOUNCE).resultCode === PcpResult.SUCCESS
    return message.length === 12 && decodeNatPmpAddress(message).resultCode === 0
  } catch {
    return false
  }
}

/**
 * Whether the server's epoch shows it lost its state since the last answer
 * (RFC 6887 §8.5, RFC 6886 §3.6): its clock must have advanced at least 7/8
 * of ours, less 2 s of slack; less means it rebooted (or its mappings were reset).
 */
export function epochRegressed(previous: { epoch: number; at: number }, epoch: number, now: number): boolean {
  const elapsed = Math.max(0, (now - previous.at) / 1000)
  if (epoch + 2 < previous.epoch) return true
  return epoch < previous.epoch + (elapsed * 7) / 8 - 2
}
