/**
 * The control socket protocol: JSON lines. The client sends requests, each
 * with an `id`; the node answers each with one final line (`ok` true with a
 * `result`, or false with an `error`), preceded by `progress` lines for
 * file transfers. Requests may be sent concurrently on one socket.
 *
 * ```
 * → {"id":1,"op":"ping","target":"bciq…@tcp://127.0.0.1:4001"}
 * ← {"id":1,"ok":true,"result":{"peerId":"bciq…","rtt":0.41,...}}
 * → {"id":2,"op":"send-file","target":"bciq…","path":"/tmp/a.bin"}
 * ← {"id":2,"progress":{"sent":1048576,"total":5242880}}
 * ← {"id":2,"retry":{"attempt":2,"sent":2097152,"reason":"…","delay":500}}
 * ← {"id":2,"ok":true,"result":{"savedAs":"/…/inbox/a.bin",...}}
 * ```
 *
 * @packageDocumentation
 */
import { isAbsolute } from 'node:path'
import { z } from 'zod'

const id = z.number().int().min(0)

/** A request from a client. */
export const controlRequestSchema = z.discriminatedUnion('op', [
  z.strictObject({ id, op: z.literal('status') }),
  z.strictObject({ id, op: z.literal('peers') }),
  z.strictObject({ id, op: z.literal('ping'), target: z.string() }),
  z.strictObject({ id, op: z.literal('send-text'), target: z.string(), text: z.string() }),
  z.strictObject({
    id,
    op: z.literal('send-file'),
    target: z.string(),
    path: z.string().refine(isAbsolute, 'must be an absolute path'),
    name: z.string().optional(),
    retries: z.number().int().min(0).max(1000).optional(),
  }),
])

/** A request from a client. */
export type ControlRequest = z.infer<typeof controlRequestSchema>

/** Any line the node sends back. */
export const controlAnswerSchema = z.union([
  z.strictObject({ id, progress: z.strictObject({ sent: z.number(), total: z.number() }) }),
  z.strictObject({ id, ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ id, retry: z.strictObject({ attempt: z.number(), sent: z.number(), reason: z.string(), delay: z.number() }) }),
  z.strictObject({
    id,
    ok: z.literal(false),
    error: z.strictObject({ message: z.string(), exitCode: z.number().int(), reason: z.string().optional(), code: z.string().max(64).optional() }),
  }),
])

/** Any line the node sends back. */
export type ControlAnswer = z.infer<typeof controlAnswerSchema>

const peerRowSchema = z.object({
  peerId: z.string(),
  transport: z.string(),
  direction: z.string(),
  method: z.string(),
  remoteAddress: z.string(),
  localAddress: z.string(),
  role: z.string(),
  bytesSent: z.number(),
  bytesReceived: z.number(),
  messagesSent: z.number(),
  messagesReceived: z.number(),
  rtt: z.number().optional(),
  openedAt: z.number(),
  fallback: z.object({ from: z.string(), reason: z.string() }).optional(),
})

/** Results by operation, checked by the client. */
export const resultSchemas = {
  status: z.object({
    peerId: z.string(),
    networkName: z.string(),
    addresses: z.array(z.string()),
    inbox: z.string().optional(),
    pid: z.number(),
  }),
  peers: z.array(peerRowSchema),
  ping: z.object({ peerId: z.string(), rtt: z.number(), transport: z.string(), method: z.string(), remoteAddress: z.string() }),
  'send-text': z.object({ peerId: z.string(), bytes: z.number(), transport: z.string() }),
  'send-file': z.object({
    peerId: z.string(),
    name: z.string(),
    size: z.number(),
    sha256: z.string(),
    savedAs: z.string(),
    ms: z.number(),
    transport: z.string(),
    resumedFrom: z.number(),
    attempts: z.number(),
  }),
} as const

/** What `status` reports about the running node. */
export type NodeStatus = z.infer<(typeof resultSchemas)['status']>
