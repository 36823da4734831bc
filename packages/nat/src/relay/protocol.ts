/**
 * The relay's wire protocol: two protocol streams per circuit and a few
 * JSON control frames on each, then raw bytes (the end-to-end TLS records).
 *
 * - `/crust/relay/1` (hop), served by relays: the requester asks
 *   `{type:'connect', target}`; the relay answers `{type:'connected'}` or
 *   `{type:'refused', reason, message}`.
 * - `/crust/relay/stop/1`, served by relay clients: the relay announces
 *   `{type:'incoming', from}`; the target answers `{type:'accepted'}` or refuses.
 *
 * @packageDocumentation
 */
import { type ServiceStream, isPeerId, isCrustError } from '@crust/core'
import { StreamResetCode } from '@crust/core/plugin'
import { z } from 'zod'
import { RelayError, type RelayErrorReason, type RelayLimit } from './errors.js'

/** Protocol a relay serves: requesters ask it for circuits. */
export const HOP_PROTOCOL = '/crust/relay/1'
/** Protocol a relay client serves: relays announce incoming circuits. */
export const STOP_PROTOCOL = '/crust/relay/stop/1'
/** Largest control frame either side reads; a larger one resets the stream. */
export const MAX_CONTROL_FRAME = 1024

/**
 * Reset codes a relay puts on both streams of a circuit it ends, so both ends
 * learn why (after `connected` only TLS bytes flow: there is no room for a frame).
 * Chosen outside the core's small `StreamResetCode` values.
 */
export const CircuitResetCode = {
  BYTES_EXCEEDED: 0x524c_0001,
  DURATION_EXCEEDED: 0x524c_0002,
  PEER_GONE: 0x524c_0003,
  SHUTDOWN: 0x524c_0004,
} as const

/** The circuit-end reason a reset code stands for, if it is one of ours. */
export function circuitEndReason(code: number): RelayErrorReason | undefined {
  switch (code) {
    case CircuitResetCode.BYTES_EXCEEDED:
      return 'bytes-exceeded'
    case CircuitResetCode.DURATION_EXCEEDED:
      return 'duration-exceeded'
    case CircuitResetCode.PEER_GONE:
      return 'peer-gone'
    case CircuitResetCode.SHUTDOWN:
      return 'shutdown'
    case StreamResetCode.MESSAGE_TOO_LARGE:
    case StreamResetCode.PROTOCOL_ERROR:
      return 'bad-request'
    case StreamResetCode.REFUSED:
      return 'unavailable'
    default:
      return undefined
  }
}

const peerId = z.string().max(128).refine(isPeerId, { message: 'must be a peer id' })
const refusalReasons = [
  'limit',
  'not-connected',
  'self',
  'blacklisted',
  'target-refused',
  'bad-request',
  'unavailable',
  'timeout',
] as const satisfies readonly RelayErrorReason[]
const limits = ['circuits', 'peer-circuits', 'peer-rate', 'target-circuits'] as const satisfies readonly RelayLimit[]

/** A refusal's reason as sent on the wire. */
export type RefusalReason = (typeof refusalReasons)[number]

const refused = z.strictObject({
  type: z.literal('refused'),
  // A reason a newer peer invents is still a refusal: read it as `target-refused`/`unavailable` below.
  reason: z.string().max(32),
  limit: z.string().max(32).optional(),
  message: z.string().max(512),
})

/** Requester → relay. */
export const hopRequest = z.strictObject({ type: z.literal('connect'), target: peerId })
/** Relay → requester. */
export const hopAnswer = z.discriminatedUnion('type', [z.strictObject({ type: z.literal('connected') }), refused])
/** Relay → target. */
export const stopRequest = z.strictObject({ type: z.literal('incoming'), from: peerId })
/** Target → relay. */
export const stopAnswer = z.discriminatedUnion('type', [z.strictObject({ type: z.literal('accepted') }), refused])

/** A refusal frame. */
export type Refusal = z.infer<typeof refused>

/** Build a refusal frame. */
export function refusal(reason: RefusalReason, message: string, limit?: RelayLimit): Refusal {
  return { type: 'refused', reason, message: message.slice(0, 512), ...(limit === undefined ? {} : { limit }) }
}

/** The typed error a refusal frame stands for. */
export function refusalError(frame: Refusal, relay: string | undefined): RelayError {
  const known = (refusalReasons as readonly string[]).includes(frame.reason)
  const reason: RelayErrorReason = known ? (frame.reason as RefusalReason) : 'unavailable'
  const limit = (limits as readonly string[]).includes(frame.limit ?? '') ? (frame.limit as RelayLimit) : undefined
  return new RelayError(reason, frame.message || `relay refused: ${frame.reason}`, { limit, relay })
}

/** Write one control frame. */
export function writeControl(stream: ServiceStream, frame: object, options?: { end?: boolean }): Promise<void> {
  return stream.writeFrame(Buffer.from(JSON.stringify(frame), 'utf8'), options)
}

/**
 * Read one control frame and validate it with `schema`. Throws `RelayError`
 * `bad-request` for anything malformed (the stream is reset for an oversized
 * frame before it is buffered) and for a stream that ended first. Stream
 * resets and aborts propagate unchanged.
 */
export async function readControl<T>(stream: ServiceStream, schema: z.ZodType<T>): Promise<T> {
  let raw: Uint8Array | undefined
  try {
    raw = await stream.readFrame(MAX_CONTROL_FRAME)
  } catch (error) {
    if (isCrustError(error, 'ERR_MESSAGE_TOO_LARGE')) {
      throw new RelayError('bad-request', `control frame too large: ${error.message}`, { cause: error })
    }
    throw error
  }
  if (raw === undefined) throw new RelayError('bad-request', 'the stream ended before a control frame')
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(raw).toString('utf8'))
  } catch {
    throw new RelayError('bad-request', 'control frame is not JSON')
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new RelayError('bad-request', `bad control frame: ${issue ? `${issue.path.join('.') || 'frame'} ${issue.message}` : 'invalid'}`)
  }
  return parsed.data
}
