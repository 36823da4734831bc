/**
 * Binary encoding of beacons. Layout (version 1, integers big-endian):
 *
 * | bytes | field |
 * |---|---|
 * | 4 | magic `CRBN` |
 * | 1 | version (1) |
 * | 1 | type: 1 query, 2 announce |
 * | 32 | network hash (SHA-256 of the network name) |
 * | 8 | timestamp, ms since the epoch |
 * | 16 | nonce |
 * | 1 + n | peer id (ASCII) |
 * | 2 + n | public key (SPKI DER) |
 * | 1 | address count, then per address 1 + n (ASCII) |
 * | 2 + n | signature over every byte before this field |
 *
 * Nothing may follow the signature. Decoding reads the framing, then checks
 * every field with {@link beaconSchema}.
 *
 * @packageDocumentation
 */
import { BeaconDecodeError, BeaconEncodeError } from './errors.js'
import {
  BEACON_VERSION,
  type Beacon,
  type BeaconContent,
  type BeaconType,
  MAX_ADDRESSES,
  MAX_BEACON_SIZE,
  MAX_SIGNATURE_LENGTH,
  NONCE_LENGTH,
  beaconContentSchema,
  beaconSchema,
} from './schema.js'

/** The four bytes every beacon starts with: ASCII `CRBN`. */
export const BEACON_MAGIC: Uint8Array = Uint8Array.of(0x43, 0x52, 0x42, 0x4e)

const TYPE_CODES: Readonly<Record<BeaconType, number>> = { query: 1, announce: 2 }
const HASH_LENGTH = 32
/** Magic, version, type, hash, timestamp, nonce. */
const HEADER_LENGTH = 4 + 1 + 1 + HASH_LENGTH + 8 + NONCE_LENGTH

/** A decoded, schema-checked beacon plus the exact bytes its signature covers. */
export interface DecodedBeacon extends Beacon {
  /** The signed part of the datagram (everything before the signature length). */
  readonly signed: Uint8Array
}

/**
 * Encode and sign a beacon. Addresses are kept in order; trailing ones that
 * do not fit in `maxSize` bytes are left out, so put the best first.
 *
 * @param sign - Signs the body, e.g. `components.identity.sign`.
 * @throws {@link BeaconEncodeError} when a field is invalid or the beacon cannot fit even without addresses.
 */
export function encodeBeacon(content: BeaconContent, sign: (data: Uint8Array) => Uint8Array, maxSize: number = MAX_BEACON_SIZE): Uint8Array {
  const checked = beaconContentSchema.safeParse(content)
  if (!checked.success) {
    throw new BeaconEncodeError(`invalid beacon content: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  }
  const addresses = content.addresses.slice(0, MAX_ADDRESSES).map(ascii)
  const fixed = HEADER_LENGTH + 1 + content.peerId.length + 2 + content.publicKey.length + 1 + 2
  // Guess an Ed25519 signature first; correct the guess after the first signing.
  let signatureLength = 64
  let count = fitting(addresses, maxSize - fixed - signatureLength)
  for (;;) {
    const body = encodeBody(content, addresses.slice(0, count))
    const signature = sign(body)
    if (signature.length < 1 || signature.length > MAX_SIGNATURE_LENGTH) {
      throw new BeaconEncodeError(`signature of ${signature.length} bytes is out of range`)
    }
    const total = body.length + 2 + signature.length
    if (total <= maxSize) {
      const out = new Uint8Array(total)
      out.set(body, 0)
      new DataView(out.buffer).setUint16(body.length, signature.length)
      out.set(signature, body.length + 2)
      return out
    }
    if (count === 0) throw new BeaconEncodeError(`beacon of ${total} bytes exceeds ${maxSize} bytes even without addresses`)
    signatureLength = signature.length
    count = Math.min(count - 1, fitting(addresses, maxSize - fixed - signatureLength))
  }
}

/**
 * Decode a datagram into a schema-checked beacon. Does not check the
 * signature, freshness or network: see `BeaconReceiver`.
 *
 * @throws {@link BeaconDecodeError} and nothing else, whatever the input.
 */
export function decodeBeacon(datagram: Uint8Array, maxSize: number = MAX_BEACON_SIZE): DecodedBeacon {
  if (datagram.length > maxSize) throw new BeaconDecodeError('oversized', `${datagram.length} bytes > ${maxSize}`)
  const reader = new Reader(datagram)
  const magic = reader.bytes(BEACON_MAGIC.length, 'magic')
  if (!magic.every((byte, i) => byte === BEACON_MAGIC[i])) throw new BeaconDecodeError('magic', 'not a beacon')
  const version = reader.u8('version')
  if (version !== BEACON_VERSION) throw new BeaconDecodeError('version', `version ${version} is not supported`)
  const typeCode = reader.u8('type')
  const networkHash = hex(reader.bytes(HASH_LENGTH, 'network hash'))
  const timestamp = reader.u64('timestamp')
  const nonce = hex(reader.bytes(NONCE_LENGTH, 'nonce'))
  const peerId = text(reader.bytes(reader.u8('peer id length'), 'peer id'))
  const publicKey = reader.bytes(reader.u16('public key length'), 'public key')
  const count = reader.u8('address count')
  if (count > MAX_ADDRESSES) throw new BeaconDecodeError('invalid', `${count} addresses > ${MAX_ADDRESSES}`)
  const addresses: string[] = []
  for (let i = 0; i < count; i++) addresses.push(text(reader.bytes(reader.u8('address length'), 'address')))
  const signedLength = reader.offset
  const signature = reader.bytes(reader.u16('signature length'), 'signature')
  if (reader.offset !== datagram.length) throw new BeaconDecodeError('truncated', `${datagram.length - reader.offset} bytes after the signature`)

  const type = (Object.keys(TYPE_CODES) as BeaconType[]).find((key) => TYPE_CODES[key] === typeCode) ?? typeCode
  const parsed = beaconSchema.safeParse({ version, type, networkHash, timestamp, nonce, peerId, publicKey, addresses, signature })
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new BeaconDecodeError('invalid', issue ? `${issue.path.join('.') || 'beacon'}: ${issue.message}` : 'schema check failed')
  }
  return { ...parsed.data, signed: datagram.subarray(0, signedLength) }
}

function encodeBody(content: BeaconContent, addresses: readonly Uint8Array[]): Uint8Array {
  const peerId = ascii(content.peerId)
  const length =
    HEADER_LENGTH + 1 + peerId.length + 2 + content.publicKey.length + 1 + addresses.reduce((sum, a) => sum + 1 + a.length, 0)
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  let offset = 0
  const put = (value: Uint8Array): void => {
    out.set(value, offset)
    offset += value.length
  }
  put(BEACON_MAGIC)
  out[offset++] = BEACON_VERSION
  out[offset++] = TYPE_CODES[content.type]
  put(Buffer.from(content.networkHash, 'hex'))
  view.setBigUint64(offset, BigInt(content.timestamp))
  offset += 8
  put(Buffer.from(content.nonce, 'hex'))
  out[offset++] = peerId.length
  put(peerId)
  view.setUint16(offset, content.publicKey.length)
  offset += 2
  put(content.publicKey)
  out[offset++] = addresses.length
  for (const address of addresses) {
    out[offset++] = address.length
    put(address)
  }
  return out
}

/** How many leading addresses fit in `budget` bytes. */
function fitting(addresses: readonly Uint8Array[], budget: number): number {
  let used = 0
  let count = 0
  for (const address of addresses) {
    used += 1 + address.length
    if (used > budget) break
    count++
  }
  return count
}

/** Bounds-checked reads; running past the end is a `truncated` decode error. */
class Reader {
  offset = 0
  private readonly view: DataView

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  private need(length: number, what: string): void {
    if (this.offset + length > this.data.length) throw new BeaconDecodeError('truncated', `${what} runs past the end`)
  }

  u8(what: string): number {
    this.need(1, what)
    return this.view.getUint8(this.offset++)
  }

  u16(what: string): number {
    this.need(2, what)
    const value = this.view.getUint16(this.offset)
    this.offset += 2
    return value
  }

  u64(what: string): number {
    this.need(8, what)
    const value = this.view.getBigUint64(this.offset)
    this.offset += 8
    // An out-of-range value is left for the schema to reject.
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(value)
  }

  bytes(length: number, what: string): Uint8Array {
    this.need(length, what)
    const value = this.data.subarray(this.offset, this.offset + length)
    this.offset += length
    return value
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Bytes as text, one character per byte; the schema then insists on printable ASCII. */
function text(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes)
}

function ascii(value: string): Uint8Array {
  return Uint8Array.from(value, (char) => char.charCodeAt(0))
}
