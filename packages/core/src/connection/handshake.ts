import { createHash } from 'node:crypto'
import { z } from 'zod'
import { NetworkMismatchError, ProtocolError, TimeoutError, isCrustError } from '../errors.js'
import { CONNECTION_METHOD_PATTERN, CloseCode, type CloseInfo, type ConnectionMethod, type TransportConnection, type TransportStream } from '../transport/types.js'
import { errorFromClose } from './close-errors.js'
import { MessageKind } from './message-header.js'
import { readMessage, writeMessage } from './message-io.js'
import { APP_PROTOCOL_PATTERN } from './protocol-name.js'

/** Most application protocols a handshake announces: 32 names of at most 128 bytes keep it well within its size limit. */
export const MAX_HANDSHAKE_PROTOCOLS = 32

/** A dial attempt's tag in the handshake: the dialling node's random id, the dial's number there, the attempt's number in it. */
const RACE_PATTERN = /^[0-9a-f]{16}\.\d{1,15}\.\d{1,3}$/

/** The length limit of the handshake's free-form strings (`observed`, `target`, each of `addresses`). */
const MAX_HANDSHAKE_STRING = 256
/** Most addresses a handshake lists. */
const MAX_HANDSHAKE_ADDRESSES = 32
const NETWORK_PATTERN = /^[0-9a-f]{64}$/
const SESSION_PATTERN = /^[0-9a-f]{16}$/

/** Handshake messages are tiny; anything bigger is hostile. */
const MAX_HANDSHAKE_SIZE = 16 * 1024

/** Role a peer claims in its handshake. */
export type PeerRole = 'node' | 'client'

/** A connection method's name: an open vocabulary, but bounded and plain (it reaches logs and events). */
const methodName = z.string().regex(CONNECTION_METHOD_PATTERN, 'not a connection method name (a-z, 0-9, -; at most 32)')

/** The handshake's rules; exported for the tests that hold `parseHandshake`'s fast path to them. */
export const handshakeSchema = z.object({
  v: z.literal(1),
  network: z.string().regex(NETWORK_PATTERN),
  role: z.enum(['node', 'client']),
  /** The address the sender sees the receiver at (the echo service). */
  observed: z.string().max(MAX_HANDSHAKE_STRING).optional(),
  /** Addresses the sender says it can be dialled at (checked by dialling back before it is treated as a node). */
  addresses: z.array(z.string().max(MAX_HANDSHAKE_STRING)).max(MAX_HANDSHAKE_ADDRESSES).optional(),
  /** Set by a reachability probe: answer, but do not keep the connection. */
  probe: z.literal(true).optional(),
  /** HELLO: the address the dialer dialled (tells the listener whether a port mapping was used). */
  target: z.string().max(MAX_HANDSHAKE_STRING).optional(),
  /** HELLO: how the dialer made the path, when it knows better than the listener (e.g. `punched`). */
  via: methodName.optional(),
  /** WELCOME: how the listener says this connection was made; both ends report the same. */
  method: methodName.optional(),
  /**
   * The sender's session: random, new each time a node is created. A peer
   * that comes back with another session restarted, and lost what it knew
   * (which peer-addressed messages it had delivered).
   */
  session: z.string().regex(SESSION_PATTERN).optional(),
  /** The sender's `connection.idleTimeout` (ms, 0 = none): the other side keeps the connection alive within it. */
  idle: z.number().int().min(0).max(86_400_000).optional(),
  /** The application protocols the sender handles (`node.protocols`), at most {@link MAX_HANDSHAKE_PROTOCOLS}. */
  protocols: z.array(z.string().regex(APP_PROTOCOL_PATTERN)).max(MAX_HANDSHAKE_PROTOCOLS).optional(),
  /**
   * HELLO: which dial of which node this connection is an attempt of:
   * `node.dial.attempt` (a random id of the dialling node, its dial counter,
   * the attempt's number in that dial); WELCOME echoes it. When two
   * connections of one dialler complete, both ends know their order and keep
   * the same one (see `chooseSurvivor`).
   */
  race: z.string().regex(RACE_PATTERN).optional(),
})
/** What each side tells the other when a connection opens. */
export type HandshakeInfo = z.infer<typeof handshakeSchema>

/** The handshake's `protocols` field for `protocols` (omitted when there are none). */
function announce(protocols: readonly string[] | undefined): { protocols?: string[] } {
  return protocols !== undefined && protocols.length > 0 ? { protocols: protocols.slice(0, MAX_HANDSHAKE_PROTOCOLS) } : {}
}

/** SHA-256 of the network name, hex: only peers of the same network talk. */
export function hashNetworkName(networkName: string): string {
  return createHash('sha256').update(`crust-network:${networkName}`).digest('hex')
}

function encode(info: HandshakeInfo): Uint8Array {
  return Buffer.from(JSON.stringify(info))
}

async function readHandshake(stream: TransportStream, expectedKind: MessageKind): Promise<HandshakeInfo> {
  const message = await readMessage(stream, MAX_HANDSHAKE_SIZE)
  if (message.kind !== expectedKind) throw new ProtocolError(`expected handshake message kind ${expectedKind}, got ${message.kind}`)
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(message.data).toString('utf8'))
  } catch (error) {
    throw new ProtocolError('handshake is not valid JSON', { cause: error })
  }
  return parseHandshake(json)
}

const isShortString = (value: unknown): boolean => typeof value === 'string' && value.length <= MAX_HANDSHAKE_STRING
const matches = (pattern: RegExp) => (value: unknown): boolean => typeof value === 'string' && pattern.test(value)
/** An array of at most `max` elements, each passing `check` (a hole fails it, as in the schema). */
const isArrayOf =
  (max: number, check: (value: unknown) => boolean) =>
  (value: unknown): boolean => {
    if (!Array.isArray(value) || value.length > max) return false
    for (let i = 0; i < value.length; i++) if (!check(value[i])) return false
    return true
  }

/**
 * The schema's rules, field by field, for {@link quickParse}: a well-formed
 * handshake is checked without zod's machinery (~0.1 ms of CPU on each side
 * of every connect). Kept in the schema's key order, which is the order zod
 * gives its output. `handshake.test.ts` holds the two to the same verdict
 * and output on valid and broken messages.
 */
const FIELD_CHECKS: ReadonlyArray<readonly [key: keyof HandshakeInfo, required: boolean, check: (value: unknown) => boolean]> = [
  ['v', true, (value) => value === 1],
  ['network', true, matches(NETWORK_PATTERN)],
  ['role', true, (value) => value === 'node' || value === 'client'],
  ['observed', false, isShortString],
  ['addresses', false, isArrayOf(MAX_HANDSHAKE_ADDRESSES, isShortString)],
  ['probe', false, (value) => value === true],
  ['target', false, isShortString],
  ['via', false, matches(CONNECTION_METHOD_PATTERN)],
  ['method', false, matches(CONNECTION_METHOD_PATTERN)],
  ['session', false, matches(SESSION_PATTERN)],
  ['idle', false, (value) => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 86_400_000],
  ['protocols', false, isArrayOf(MAX_HANDSHAKE_PROTOCOLS, matches(APP_PROTOCOL_PATTERN))],
  ['race', false, matches(RACE_PATTERN)],
]
const FIELDS: ReadonlySet<string> = new Set(FIELD_CHECKS.map(([key]) => key))

/**
 * `json` as the schema would output it, when it is a plain object of known
 * fields that all pass; `undefined` for anything else (an unknown or
 * `undefined` field, a bad value, not a plain object), which the schema then
 * decides, with its error message.
 */
function quickParse(json: unknown): HandshakeInfo | undefined {
  if (typeof json !== 'object' || json === null || Object.getPrototypeOf(json) !== Object.prototype) return undefined
  const input = json as Record<string, unknown>
  for (const key in input) if (!FIELDS.has(key)) return undefined
  const output: Record<string, unknown> = {}
  for (const [key, required, check] of FIELD_CHECKS) {
    if (!required && !(key in input)) continue
    const value = input[key]
    if (value === undefined || !check(value)) return undefined
    output[key] = Array.isArray(value) ? value.slice() : value
  }
  return output as HandshakeInfo
}

/** Check a decoded HELLO or WELCOME from a peer; a `ProtocolError` names the first bad field. */
export function parseHandshake(json: unknown): HandshakeInfo {
  const quick = quickParse(json)
  if (quick !== undefined) return quick
  const parsed = handshakeSchema.safeParse(json)
  if (!parsed.success) throw new ProtocolError(`invalid handshake: ${parsed.error.issues[0]?.message ?? 'unknown'}`)
  return parsed.data
}

/**
 * Race `work` against the handshake deadline and the connection closing, so a
 * peer that stalls or hangs up mid-handshake yields a typed error, never a hang.
 *
 * A refusal closes the connection, and that close first fails the handshake
 * stream. The reason must reach the caller however the two events are timed
 * (a loaded event loop, a close that is slow to be delivered), so nothing here
 * waits on a clock except the handshake deadline itself: a failure that says
 * how its connection closed becomes that typed error at once; any other
 * stream or connection failure waits for the connection's own `closed`, which
 * the transport settles once a closing connection is gone, or for the deadline
 * when the peer reset the stream and kept the connection open.
 */
async function bounded<T>(connection: TransportConnection, timeoutMs: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  let failure: unknown
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(failure ?? new TimeoutError(`handshake did not finish within ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  let over = false
  // Only while the handshake runs: a connection that closes later (most do, long after) needs no error built.
  const closed = new Promise<never>((_, reject) => {
    void connection.closed.then((info) => {
      if (!over) reject(errorFromClose(info))
    })
  })
  const explained = work.catch((error: unknown): Promise<never> => {
    const info = closeInfoOf(error)
    if (info !== undefined) throw errorFromClose(info)
    if (!isCrustError(error, 'ERR_STREAM_RESET') && !isCrustError(error, 'ERR_CONNECTION_CLOSED')) throw error
    failure = error
    return closed
  })
  closed.catch(() => {})
  try {
    return await Promise.race([explained, deadline, closed])
  } finally {
    over = true
    clearTimeout(timer)
  }
}

/** How the connection closed, when `error` is a stream or connection failure that carries it. */
function closeInfoOf(error: unknown): CloseInfo | undefined {
  if (isCrustError(error, 'ERR_STREAM_RESET') || isCrustError(error, 'ERR_CONNECTION_CLOSED')) return error.closeInfo
  return undefined
}

/** Options shared by both sides of the handshake. */
export interface HandshakeOptions {
  readonly networkHash: string
  readonly role: PeerRole
  readonly timeoutMs: number
  /** Addresses we claim to be reachable at. */
  readonly addresses: readonly string[]
  /** Dialer only: this connection is a reachability probe. */
  readonly probe?: boolean
  /** Dialer only: the address dialled. */
  readonly target?: string
  /** Dialer only: how the path was made, when the dialer knows (hole punching, relay). */
  readonly via?: ConnectionMethod
  /** Listener only: how the connection described by a HELLO was made. */
  readonly describe?: (hello: HandshakeInfo) => ConnectionMethod
  /** Dialer only: the dial this connection is one attempt of (see the handshake's `race`). */
  readonly race?: string
  /** This node's session (see the handshake's `session`). */
  readonly session?: string
  /** This node's idle timeout (ms), told to the peer. */
  readonly idle?: number
  /** The application protocols this node handles, told to the peer (at most {@link MAX_HANDSHAKE_PROTOCOLS}). */
  readonly protocols?: readonly string[]
}

/**
 * Dialer side: send HELLO on a new bidirectional stream and wait for WELCOME.
 * A listener that refuses us closes the connection with a code, which becomes
 * the matching typed error here (blacklisted, network mismatch, limit, auth).
 */
export async function dialerHandshake(connection: TransportConnection, options: HandshakeOptions): Promise<HandshakeInfo> {
  const exchange = (async () => {
    const hello: HandshakeInfo = {
      v: 1,
      network: options.networkHash,
      role: options.role,
      addresses: [...options.addresses],
      ...(options.probe ? { probe: true as const } : {}),
      ...(options.target !== undefined ? { target: options.target } : {}),
      ...(options.via !== undefined ? { via: options.via } : {}),
      ...(options.race !== undefined ? { race: options.race } : {}),
      ...(options.session !== undefined ? { session: options.session } : {}),
      ...(options.idle !== undefined ? { idle: options.idle } : {}),
      ...announce(options.protocols),
    }
    const payload = encode(hello)
    // A stream of its own, not a transport's path for small messages (QUIC's message channel): one message
    // per connection gains nothing from it, and the channel would be opened for it and held until idle.
    const stream = await connection.openStream({ bidirectional: true })
    await writeMessage(stream, MessageKind.HELLO, payload)
    return await readHandshake(stream, MessageKind.WELCOME)
  })()
  const welcome = await bounded(connection, options.timeoutMs, exchange)
  if (welcome.network !== options.networkHash) {
    const error = new NetworkMismatchError('the remote peer is on a different network')
    await connection.close({ code: CloseCode.NETWORK_MISMATCH, reason: 'network mismatch' })
    throw error
  }
  // A race tag counts only when both ends have it (an older listener does not echo it).
  if (welcome.race !== undefined && welcome.race !== options.race) {
    const { race: _notOurs, ...rest } = welcome
    return rest
  }
  return welcome
}

/** What the listener decides about a HELLO. Returning an error refuses the peer with its close code. */
export type HelloVerdict = { readonly accept: true } | { readonly accept: false; readonly code: number; readonly error: Error }

/**
 * Listener side: read HELLO from the first stream the dialer opens, let
 * `decide` accept or refuse it, and answer WELCOME (with the address we see the
 * dialer at). A refusal closes the connection with its code and throws its error.
 */
export async function listenerHandshake(
  connection: TransportConnection,
  firstStream: Promise<TransportStream>,
  options: HandshakeOptions,
  decide: (hello: HandshakeInfo) => HelloVerdict | Promise<HelloVerdict>,
): Promise<HandshakeInfo> {
  const exchange = (async () => {
    const stream = await firstStream
    const hello = await readHandshake(stream, MessageKind.HELLO)
    const verdict =
      hello.network === options.networkHash
        ? await decide(hello)
        : ({
            accept: false,
            code: CloseCode.NETWORK_MISMATCH,
            error: new NetworkMismatchError('the remote peer is on a different network'),
          } as const)
    if (!verdict.accept) {
      await connection.close({ code: verdict.code, reason: verdict.error.message })
      throw verdict.error
    }
    const welcome: HandshakeInfo = {
      v: 1,
      network: options.networkHash,
      role: options.role,
      observed: connection.remoteAddress,
      addresses: [...options.addresses],
      ...(options.describe !== undefined ? { method: options.describe(hello) } : {}),
      ...(hello.race !== undefined ? { race: hello.race } : {}),
      ...(options.session !== undefined ? { session: options.session } : {}),
      ...(options.idle !== undefined ? { idle: options.idle } : {}),
      ...announce(options.protocols),
    }
    await writeMessage(stream, MessageKind.WELCOME, encode(welcome))
    return hello
  })()
  return bounded(connection, options.timeoutMs, exchange)
}
