/**
 * The rendezvous protocol: one request and one answer per stream, JSON in
 * length-prefixed frames, over the node's authenticated connections only.
 *
 * Answers are bounded by the request: the server never sends more than
 * `amplification` times the request's size (up to its `maxAnswerBytes`), so a
 * client wanting a page of many records pads its request (`pad`) to pay for it.
 *
 * @packageDocumentation
 */
import { type ServiceStream, isCrustError } from '@crust/core'
import { StreamResetCode, errorMessage } from '@crust/core/plugin'
import { z } from 'zod'
import { RendezvousError, type RendezvousFailure } from './errors.js'
import { RECORD_LIMITS, signedRecordSchema } from './record.js'

/** The protocol name served by `rendezvousServer()`. */
export const RENDEZVOUS_PROTOCOL = '/crust/rendezvous/1'

/** Largest request frame (a padded DISCOVER). */
export const MAX_REQUEST_BYTES = 16 * 1024
/** Largest answer frame a client reads. */
export const MAX_ANSWER_BYTES = 256 * 1024
/** Records in one DISCOVER page at most. */
export const MAX_PAGE = 100

/** A topic: 1 to 128 printable characters. */
export const topicSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, { message: 'printable ASCII without spaces' })

const pad = z.string().max(MAX_REQUEST_BYTES).optional()
const cookie = z.string().regex(/^[0-9]{1,16}$/)
const peerId = z.string().min(1).max(128)

const registerFrame = z.strictObject({ type: z.literal('register'), topic: topicSchema, record: signedRecordSchema, ttl: z.number().int().positive(), pad })
const unregisterFrame = z.strictObject({ type: z.literal('unregister'), topic: topicSchema, pad })
const discoverFrame = z.strictObject({
  type: z.literal('discover'),
  topic: topicSchema,
  cookie: cookie.optional(),
  limit: z.number().int().min(1).max(MAX_PAGE),
  pad,
})
const lookupFrame = z.strictObject({ type: z.literal('lookup'), peerId, pad })

const requestSchema = z.discriminatedUnion('type', [registerFrame, unregisterFrame, discoverFrame, lookupFrame])

const failures = [
  'too-many-registrations',
  'topic-full',
  'server-full',
  'rate-limited',
  'invalid-record',
  'stale-record',
  'wrong-peer',
  'not-found',
  'bad-message',
  'timeout',
  'refused',
] as const satisfies readonly RendezvousFailure[]

const answerSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('registered'), ttl: z.number().int().positive() }),
  z.strictObject({ type: z.literal('unregistered') }),
  z.strictObject({
    type: z.literal('peers'),
    // The frame size bounds the list; this bounds the work of checking it.
    records: z.array(z.unknown()).max(MAX_PAGE),
    cookie: cookie.optional(),
    more: z.boolean(),
  }),
  z.strictObject({ type: z.literal('record'), record: z.unknown() }),
  z.strictObject({ type: z.literal('error'), reason: z.enum(failures), message: z.string().max(512) }),
])

export type Request = z.infer<typeof requestSchema>
export type Answer = z.infer<typeof answerSchema>
export type RegisterRequest = z.infer<typeof registerFrame>
export type DiscoverRequest = z.infer<typeof discoverFrame>

/** Bytes of a frame's JSON. */
export function frameBytes(frame: Request | Answer): number {
  return Buffer.byteLength(JSON.stringify(frame))
}

/** Write one frame (and end our side when `end`); resolves with its payload's size in bytes. */
export async function writeFrame(stream: ServiceStream, frame: Request | Answer, end = false): Promise<number> {
  const bytes = Buffer.from(JSON.stringify(frame))
  await stream.writeFrame(bytes, { end })
  return bytes.byteLength
}

/**
 * Read one frame of `schema` within `timeoutMs`. Oversized, malformed or
 * missing frames become a `RendezvousError`; the stream is reset then.
 */
async function readFrame<S extends z.ZodType>(stream: ServiceStream, schema: S, maxBytes: number, timeoutMs: number): Promise<{ frame: z.output<S>; bytes: number }> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RendezvousError('timeout', `no ${RENDEZVOUS_PROTOCOL} frame within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    const bytes = await Promise.race([stream.readFrame(maxBytes), deadline])
    if (bytes === undefined) throw new RendezvousError('bad-message', 'the peer closed the stream without a frame')
    let json: unknown
    try {
      json = JSON.parse(Buffer.from(bytes).toString('utf8'))
    } catch {
      throw new RendezvousError('bad-message', 'frame is not JSON')
    }
    const parsed = schema.safeParse(json)
    if (!parsed.success) throw new RendezvousError('bad-message', `invalid frame: ${parsed.error.issues[0]?.message ?? 'unknown'}`)
    return { frame: parsed.data, bytes: bytes.length }
  } catch (error) {
    stream.reset()
    if (error instanceof RendezvousError) throw error
    if (isCrustError(error, 'ERR_STREAM_RESET') && error.resetCode === StreamResetCode.REFUSED) {
      throw new RendezvousError('refused', `the peer does not serve ${RENDEZVOUS_PROTOCOL}`, { cause: error })
    }
    throw new RendezvousError('bad-message', errorMessage(error), { cause: error })
  } finally {
    clearTimeout(timer)
  }
}

/** Read a request (server side); `bytes` is its size on the wire, for the answer budget. */
export function readRequest(stream: ServiceStream, timeoutMs: number): Promise<{ frame: Request; bytes: number }> {
  return readFrame(stream, requestSchema, MAX_REQUEST_BYTES, timeoutMs)
}

/** Read an answer (client side); an `error` frame becomes the typed error it carries. */
export async function readAnswer(stream: ServiceStream, timeoutMs: number): Promise<Exclude<Answer, { type: 'error' }>> {
  const { frame } = await readFrame(stream, answerSchema, MAX_ANSWER_BYTES, timeoutMs)
  if (frame.type === 'error') throw new RendezvousError(frame.reason, `rendezvous server: ${frame.message}`)
  return frame
}

/**
 * Padding that makes a request of `bytes` pay for an answer of `answerBytes`
 * under an amplification factor `factor` (never beyond {@link MAX_REQUEST_BYTES}).
 */
export function paddingFor(bytes: number, answerBytes: number, factor: number): string | undefined {
  const needed = Math.min(Math.ceil(answerBytes / factor), MAX_REQUEST_BYTES - 64) - bytes
  return needed > 0 ? ' '.repeat(needed) : undefined
}

/** Room for a lookup answer: one record of the largest size plus the frame around it. */
export const LOOKUP_ANSWER_BYTES = RECORD_LIMITS.maxRecordChars + 64
