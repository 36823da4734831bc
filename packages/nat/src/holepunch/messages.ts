import { type ServiceStream, isCrustError } from '@crust/core'
import { StreamResetCode, errorMessage } from '@crust/core/plugin'
import { z } from 'zod'
import { HolePunchError } from './errors.js'

/** The rendezvous and punch coordination protocol. */
export const HOLE_PUNCH_PROTOCOL = '/crust/holepunch/1'

/** Control frames are tiny; anything bigger is hostile. */
const MAX_FRAME = 4096

const peerId = z.string().min(1).max(128)
const attempt = z.string().regex(/^[0-9a-f]{32}$/)
const candidates = z.array(z.string().max(256)).max(16)
const mapping = z.enum(['unknown', 'none', 'endpoint-independent', 'endpoint-dependent'])

/**
 * Hard-NAT fields (`hard-nat.ts`), sent only when a side's mapping is
 * endpoint-dependent, so peers of older versions (whose frames are strict)
 * see them only where punching failed for them anyway:
 * - `ports`: the sender's NAT mapped ports STUN saw, in the order the
 *   mappings were made (consecutive ones: sequential allocation, predictable);
 * - `upgrade`: the asker already has a relayed connection to the target, so a
 *   longer birthday attempt is worth it;
 * - `birthday`: the target agreed to a birthday attempt (within its budgets);
 * - `seenAt`: the IP the rendezvous sees the other side at, the only IP
 *   hard-NAT probes are sent to (a peer cannot aim them elsewhere).
 */
const ports = z.array(z.number().int().min(1).max(65_535)).max(4).optional()
const seenAt = z.ipv4().or(z.ipv6()).optional()

/** Client → rendezvous: please introduce me to `target`. */
const connectFrame = z.strictObject({
  type: z.literal('connect'),
  target: peerId,
  attempt,
  candidates,
  mapping,
  ports,
  upgrade: z.boolean().optional(),
})
/** Rendezvous → target: `from` wants to connect (the rendezvous vouches for `from`: it is the authenticated peer that asked). */
const offerFrame = z.strictObject({
  type: z.literal('offer'),
  from: peerId,
  attempt,
  candidates,
  mapping,
  ports,
  upgrade: z.boolean().optional(),
  seenAt,
})
/** Target → rendezvous → client: where to find me. */
const answerFrame = z.strictObject({ type: z.literal('answer'), candidates, mapping, ports, birthday: z.boolean().optional(), seenAt })
/** Any side: refused, with a one-word reason. */
const errorFrame = z.strictObject({
  type: z.literal('error'),
  reason: z.enum(['not-connected', 'self', 'refused', 'rate-limited', 'bad-candidates', 'bad-message', 'timeout']),
  message: z.string().max(512),
})

const frameSchema = z.discriminatedUnion('type', [connectFrame, offerFrame, answerFrame, errorFrame])
/** Every frame of the protocol. */
export type HolePunchFrame = z.infer<typeof frameSchema>
export type ConnectFrame = z.infer<typeof connectFrame>
export type OfferFrame = z.infer<typeof offerFrame>
export type AnswerFrame = z.infer<typeof answerFrame>
export type ErrorFrame = z.infer<typeof errorFrame>

/** Write one frame. */
export function writeFrame(stream: ServiceStream, frame: HolePunchFrame, end = false): Promise<void> {
  return stream.writeFrame(Buffer.from(JSON.stringify(frame)), { end })
}

/**
 * Read one frame within `timeoutMs`. Oversized, malformed or missing frames
 * become a `HolePunchError`, never a crash (the caller may still answer a
 * malformed frame with an `error` frame).
 */
export async function readFrame(stream: ServiceStream, timeoutMs: number): Promise<HolePunchFrame> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stream.reset()
      reject(new HolePunchError('timeout', `no ${HOLE_PUNCH_PROTOCOL} answer within ${timeoutMs} ms`))
    }, timeoutMs)
  })
  try {
    const bytes = await Promise.race([stream.readFrame(MAX_FRAME), deadline])
    if (bytes === undefined) throw new HolePunchError('bad-message', 'the peer closed the stream without a frame')
    let json: unknown
    try {
      json = JSON.parse(Buffer.from(bytes).toString('utf8'))
    } catch {
      throw new HolePunchError('bad-message', 'frame is not JSON')
    }
    const parsed = frameSchema.safeParse(json)
    if (!parsed.success) throw new HolePunchError('bad-message', `invalid frame: ${parsed.error.issues[0]?.message ?? 'unknown'}`)
    return parsed.data
  } catch (error) {
    if (error instanceof HolePunchError) throw error
    stream.reset()
    if (isCrustError(error, 'ERR_STREAM_RESET') && error.resetCode === StreamResetCode.REFUSED) {
      throw new HolePunchError('refused', `the peer does not serve ${HOLE_PUNCH_PROTOCOL}`, { cause: error })
    }
    throw new HolePunchError('bad-message', errorMessage(error))
  } finally {
    clearTimeout(timer)
  }
}

/** Throw the typed error an `error` frame carries, or return the frame when it has the expected type. */
export function expectFrame<T extends HolePunchFrame['type']>(frame: HolePunchFrame, type: T): Extract<HolePunchFrame, { type: T }> {
  if (frame.type === 'error') throw new HolePunchError(frame.reason, frame.message)
  if (frame.type !== type) throw new HolePunchError('bad-message', `expected a '${type}' frame, got '${frame.type}'`)
  return frame as Extract<HolePunchFrame, { type: T }>
}
