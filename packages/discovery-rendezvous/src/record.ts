/**
 * Signed peer records: what a node says about itself (peer id, addresses,
 * NAT hints, a sequence number and an expiry), signed with its identity key
 * so that a rendezvous server can store and hand them out, hide them, but
 * never forge or alter one.
 *
 * The signature covers a domain string and the payload's exact bytes (an
 * envelope): verifiers parse what was signed, so no canonical encoding is
 * needed and nothing outside the signature is trusted.
 *
 * @packageDocumentation
 */
import { type DiscoveryIdentity, isPeerId } from '@crust/core'
import { z } from 'zod'
import { RecordError } from './errors.js'

/** Signed together with the payload, so a signature made for anything else never verifies as a record. */
const DOMAIN = Buffer.from('crust/rendezvous/peer-record/1\n')
/** Record payload format version. */
const VERSION = 1

/** Bounds of a record, enforced on encoding and on decoding. */
export const RECORD_LIMITS = {
  /** Addresses in one record (the first ones are kept). */
  maxAddresses: 16,
  /** Characters of one address. */
  maxAddressLength: 256,
  /** NAT hints (traversal report kinds) in one record. */
  maxHints: 8,
  /** Bytes of the signed payload. */
  maxPayloadBytes: 2048,
  /** Bytes of the signer's public key (SPKI DER; Ed25519 is 44, RSA-4096 about 550). */
  maxKeyBytes: 600,
  /** Bytes of the signature (RSA-4096 is 512). */
  maxSignatureBytes: 512,
  /** Characters of a whole encoded record (its JSON). */
  maxRecordChars: 4608,
} as const

/** Expiries this far past `now + maxTtl` are still accepted: clocks of honest peers differ a little. */
export const CLOCK_SKEW_MS = 60_000

/** What a node says about itself in a record. */
export interface PeerRecord {
  readonly peerId: string
  /** SHA-256 hex of the network name the record is for. */
  readonly network: string
  /** Addresses the node can be dialled at, most preferred first. */
  readonly addresses: readonly string[]
  /** NAT hints: the state of each traversal mechanism (e.g. `{ stun: 'endpoint-independent', upnp: 'mapped' }`). */
  readonly nat: Readonly<Record<string, string>>
  /** Grows with every new record of the node (ms-based, so it grows across restarts too). */
  readonly seq: number
  /** When the record stops being valid (ms since the epoch). */
  readonly expires: number
}

/** A record as it travels: the payload bytes, the signer's public key and the signature, each base64. */
export interface SignedRecord {
  readonly payload: string
  readonly key: string
  readonly sig: string
}

const base64 = (maxBytes: number) =>
  z
    .string()
    .max(Math.ceil(maxBytes / 3) * 4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/)

/** Schema of a {@link SignedRecord} on the wire. */
export const signedRecordSchema = z.strictObject({
  payload: base64(RECORD_LIMITS.maxPayloadBytes),
  key: base64(RECORD_LIMITS.maxKeyBytes),
  sig: base64(RECORD_LIMITS.maxSignatureBytes),
})

const hintName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/)
const payloadSchema = z.strictObject({
  v: z.literal(VERSION),
  peerId: z.string().max(128).refine(isPeerId),
  network: z.string().regex(/^[0-9a-f]{64}$/),
  addresses: z.array(z.string().min(1).max(RECORD_LIMITS.maxAddressLength)).max(RECORD_LIMITS.maxAddresses),
  nat: z
    .record(hintName, z.string().max(32))
    .refine((hints) => Object.keys(hints).length <= RECORD_LIMITS.maxHints, { message: 'too many NAT hints' }),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  expires: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
})

/** The fields a node signs (its peer id comes from its identity). */
export type RecordFields = Omit<PeerRecord, 'peerId'>

/**
 * Sign a record of `identity`. Addresses beyond {@link RECORD_LIMITS} (count,
 * length, or the payload size) are left out, last first; NAT hints beyond the
 * limit likewise.
 */
export function signRecord(identity: DiscoveryIdentity, fields: RecordFields): SignedRecord {
  const addresses = fields.addresses.filter((a) => a.length > 0 && a.length <= RECORD_LIMITS.maxAddressLength).slice(0, RECORD_LIMITS.maxAddresses)
  const nat = Object.fromEntries(
    Object.entries(fields.nat)
      .filter(([kind, state]) => hintName.safeParse(kind).success && state.length <= 32)
      .slice(0, RECORD_LIMITS.maxHints),
  )
  let payload: Buffer
  for (;;) {
    const body = { v: VERSION, peerId: identity.peerId, network: fields.network, addresses, nat, seq: fields.seq, expires: fields.expires }
    payload = Buffer.from(JSON.stringify(body))
    if (payload.length <= RECORD_LIMITS.maxPayloadBytes || addresses.length === 0) break
    addresses.pop()
  }
  const sig = identity.sign(Buffer.concat([DOMAIN, payload]))
  return { payload: payload.toString('base64'), key: Buffer.from(identity.publicKey).toString('base64'), sig: Buffer.from(sig).toString('base64') }
}

/** What {@link verifyRecord} checks a record against. */
export interface VerifyOptions {
  /** Signature check (the node's `identity.verify`: signature valid for the key, key belongs to the peer id). */
  readonly verify: DiscoveryIdentity['verify']
  /** The network hash the record must carry. */
  readonly network: string
  /** Longest lifetime an honest record has (ms); later expiries are rejected as `too-long`. */
  readonly maxTtl: number
  /** The peer the record must be of, when one was asked for (a lookup) or submitted it (a registration). */
  readonly peerId?: string
  readonly now?: number
}

/**
 * Decode and verify a record: well-formed and within bounds, signed by the
 * key of the peer id it names, for this network, not expired and not
 * valid for longer than `maxTtl`. Replays (older sequence numbers) are for a
 * {@link RecordBook} to catch.
 *
 * @throws RecordError with the reason.
 */
export function verifyRecord(input: unknown, options: VerifyOptions): PeerRecord {
  const now = options.now ?? Date.now()
  const signed = signedRecordSchema.safeParse(input)
  if (!signed.success) throw new RecordError('malformed', 'not a signed record within bounds')
  const payload = Buffer.from(signed.data.payload, 'base64')
  let json: unknown
  try {
    json = JSON.parse(payload.toString('utf8'))
  } catch {
    throw new RecordError('malformed', 'payload is not JSON')
  }
  const parsed = payloadSchema.safeParse(json)
  if (!parsed.success) throw new RecordError('malformed', `payload: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  const { v: _, ...record } = parsed.data
  const key = Buffer.from(signed.data.key, 'base64')
  const sig = Buffer.from(signed.data.sig, 'base64')
  if (!options.verify(record.peerId, key, Buffer.concat([DOMAIN, payload]), sig)) {
    throw new RecordError('signature', `signature of ${record.peerId} does not verify`)
  }
  if (options.peerId !== undefined && record.peerId !== options.peerId) {
    throw new RecordError('wrong-peer', `record of ${record.peerId}, expected ${options.peerId}`)
  }
  if (record.network !== options.network) throw new RecordError('network', 'record of another network')
  if (record.expires <= now) throw new RecordError('expired', `expired ${now - record.expires} ms ago`)
  if (record.expires > now + options.maxTtl + CLOCK_SKEW_MS) throw new RecordError('too-long', 'expiry is too far ahead')
  return record
}

/** Size of a signed record on the wire (its JSON), to fit answers to their budget. */
export function recordSize(record: SignedRecord): number {
  return record.payload.length + record.key.length + record.sig.length + 30
}

/** What a {@link RecordBook} made of an offered record. */
export type RecordNews = 'new' | 'updated' | 'same'

/**
 * The latest record seen of each peer (bounded, least recently offered
 * forgotten first): a record older than the one held is a replay.
 */
export class RecordBook {
  private readonly records = new Map<string, { readonly record: PeerRecord; readonly signed: SignedRecord }>()
  /** Signature -> peer id of the held records, to know a record already verified (see {@link RecordBook.known}). */
  private readonly signatures = new Map<string, string>()

  constructor(private readonly capacity = 4096) {}

  /**
   * Offer a verified record: `new` (first of the peer), `updated` (higher
   * sequence number) or `same` (the one held).
   *
   * @throws RecordError `replayed` when older than the held one, or of the same sequence number with other contents.
   */
  offer(record: PeerRecord, signed: SignedRecord): RecordNews {
    const held = this.records.get(record.peerId)
    if (held !== undefined) {
      if (record.seq < held.record.seq) throw new RecordError('replayed', `sequence ${record.seq} is older than ${held.record.seq}`)
      if (record.seq === held.record.seq) {
        if (signed.payload !== held.signed.payload) throw new RecordError('replayed', `another record with sequence ${record.seq}`)
        return 'same'
      }
    }
    this.forget(record.peerId) // re-inserted: Map order is recency
    this.records.set(record.peerId, { record, signed })
    this.signatures.set(signed.sig, record.peerId)
    if (this.records.size > this.capacity) this.forget(this.records.keys().next().value as string)
    return held === undefined ? 'new' : 'updated'
  }

  /**
   * The held record that `input` is byte for byte (payload, key and
   * signature), so its signature need not be checked again: a client sees
   * the same records every discovery round. Its expiry still must be.
   */
  known(input: unknown): PeerRecord | undefined {
    if (typeof input !== 'object' || input === null) return undefined
    const { payload, key, sig } = input as Partial<SignedRecord>
    const peerId = typeof sig === 'string' ? this.signatures.get(sig) : undefined
    const held = peerId === undefined ? undefined : this.records.get(peerId)
    return held !== undefined && held.signed.payload === payload && held.signed.key === key ? held.record : undefined
  }

  private forget(peerId: string): void {
    const held = this.records.get(peerId)
    if (held === undefined) return
    this.records.delete(peerId)
    this.signatures.delete(held.signed.sig)
  }

  /** The latest record of `peerId`, when it has not expired. */
  get(peerId: string, now = Date.now()): { readonly record: PeerRecord; readonly signed: SignedRecord } | undefined {
    const held = this.records.get(peerId)
    return held !== undefined && held.record.expires > now ? held : undefined
  }

  get size(): number {
    return this.records.size
  }
}
