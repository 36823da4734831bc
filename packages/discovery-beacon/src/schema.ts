/**
 * The zod schema every received beacon must pass after the binary framing is
 * read, and the limits it enforces.
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import { isPeerId } from '@crust/core'
import { parseAddress } from '@crust/core/plugin'
import { z } from 'zod'

/** Version of the wire format this implementation writes and accepts. */
export const BEACON_VERSION = 1
/** Default hard size limit of a beacon datagram, in bytes (fits any path MTU in practice). */
export const MAX_BEACON_SIZE = 1200
/** Most addresses one beacon carries. */
export const MAX_ADDRESSES = 32
/** Longest address, in bytes. */
export const MAX_ADDRESS_LENGTH = 255
/** Longest public key (SPKI DER) accepted; room for RSA-4096 keys of CA mode. */
export const MAX_PUBLIC_KEY_LENGTH = 600
/** Longest signature accepted; room for RSA-4096 signatures. */
export const MAX_SIGNATURE_LENGTH = 600
/** Length of the random nonce, in bytes. */
export const NONCE_LENGTH = 16

/** The two kinds of beacon. */
export type BeaconType = 'query' | 'announce'

const printableAscii = /^[\x21-\x7e]+$/

/**
 * A transport address as beacons carry it: `transport://ip:port` with an IP
 * literal host (never a host name, so a beacon can never make a receiver
 * resolve names such as `localhost`).
 */
export const beaconAddressSchema = z
  .string()
  .min(1)
  .max(MAX_ADDRESS_LENGTH)
  .regex(printableAscii, 'must be printable ASCII')
  .refine((address) => {
    const parsed = parseAddress(address)
    return parsed !== undefined && isIP(parsed.host) !== 0
  }, 'must be an address such as tcp://192.168.1.7:4001 with an IP literal host')

const bytes = (max: number) =>
  z.custom<Uint8Array>((value) => value instanceof Uint8Array && value.length >= 1 && value.length <= max, `must be 1 to ${max} bytes`)

/** Schema of a decoded beacon. */
export const beaconSchema = z.strictObject({
  version: z.literal(BEACON_VERSION),
  type: z.enum(['query', 'announce']),
  /** SHA-256 hex of the network name (lowercase). */
  networkHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  /** Sender's clock, ms since the epoch. */
  timestamp: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** Random nonce, lowercase hex. */
  nonce: z.string().regex(new RegExp(`^[0-9a-f]{${NONCE_LENGTH * 2}}$`), `must be ${NONCE_LENGTH * 2} lowercase hex digits`),
  peerId: z.string().max(100).refine(isPeerId, 'must be a peer id'),
  /** SPKI DER of the sender's key. */
  publicKey: bytes(MAX_PUBLIC_KEY_LENGTH),
  addresses: z.array(beaconAddressSchema).max(MAX_ADDRESSES),
  signature: bytes(MAX_SIGNATURE_LENGTH),
})

/** A beacon whose fields passed {@link beaconSchema}. */
export type Beacon = z.output<typeof beaconSchema>

/** What a sender puts in a beacon: everything but the version (implied) and the signature (computed). */
export type BeaconContent = Omit<Beacon, 'version' | 'signature'>

/** Schema of {@link BeaconContent}, checked before encoding. */
export const beaconContentSchema = beaconSchema.omit({ version: true, signature: true })
