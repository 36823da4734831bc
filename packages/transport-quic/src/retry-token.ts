import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { normalizeIp } from '@crust/core/plugin'
import type { RemoteInfo } from './listener-guard.js'

/** Token layout version (first byte). */
const FORMAT = 1
/** format (1) + expiry in ms of this process's monotonic clock (6) + original DCID length (1). */
const HEAD_BYTES = 8
/** HMAC-SHA256 truncated to 128 bits: enough against forgery within a token's seconds of life. */
const MAC_BYTES = 16
/** Longest connection id in QUIC v1 (RFC 9000 §17.2). */
const MAX_CID_BYTES = 20
/** Length of the connection id a Retry hands out; the library accepts the follow-up Initial only with this length (quiche's MAX_CONN_ID_LEN). */
export const RETRY_SCID_BYTES = 20

/** A token that passed {@link RetryTokens.check}. */
export interface ValidToken {
  readonly ok: true
  /** The client's original destination connection id (for quiche's `original_destination_connection_id`). */
  readonly original: Buffer
  /** Identifies this token in the used-token memory. */
  readonly id: string
  /** When it expires (monotonic ms). */
  readonly expires: number
}

export type TokenCheck = ValidToken | { readonly ok: false; readonly reason: 'token-invalid' | 'token-expired' }

const INVALID = { ok: false, reason: 'token-invalid' } as const
const EXPIRED = { ok: false, reason: 'token-expired' } as const

/**
 * Stateless retry tokens (RFC 9000 §8.1.2) that expire, are bound to the
 * client's IP and port, the original destination connection id and the
 * connection id the Retry handed out, and are good for one connection
 * attempt:
 *
 *     token = 0x01 | expiry (u48) | len | original DCID | MAC
 *     MAC   = HMAC-SHA256(key, token head | retry SCID | port | IP)[0..16]
 *
 * The key is random per transport (a restart invalidates outstanding
 * tokens) and expiry uses this process's monotonic clock, so a wall-clock
 * jump cannot extend a token. The library's own tokens (JSON, never
 * expiring, bound to the IP only) are not used.
 */
export class RetryTokens {
  private readonly key = randomBytes(32)
  /** Tokens already used for an attempt (id -> expiry), in order of use. */
  private readonly used = new Map<string, number>()

  /**
   * @param lifetimeMs - how long a token is accepted after its Retry was sent
   * @param maxUsed - most used tokens remembered; tokens are only minted within the
   *   stateless reply budget, so `budget × lifetime` live tokens at most exist
   */
  constructor(
    private readonly lifetimeMs: number,
    private readonly maxUsed: number,
    private readonly now: () => number = () => Math.floor(performance.now()),
    /** Makes the connection ids of Retries, which become the server's ids for the connections (default: random). */
    private readonly newScid: () => Buffer = () => randomBytes(RETRY_SCID_BYTES),
  ) {}

  /** A fresh connection id for a Retry: the client sends its next Initial to it. */
  newRetryScid(): Buffer {
    return this.newScid()
  }

  /** A token for `remote`, whose Initial was sent to `original`, answered by a Retry from `retryScid`. */
  mint(remote: RemoteInfo, original: Uint8Array, retryScid: Uint8Array): Buffer {
    const head = Buffer.allocUnsafe(HEAD_BYTES + original.length)
    head[0] = FORMAT
    head.writeUIntBE(this.now() + this.lifetimeMs, 1, 6)
    head[7] = original.length
    head.set(original, HEAD_BYTES)
    return Buffer.concat([head, this.mac(head, retryScid, remote)])
  }

  /** Check `token` of an Initial from `remote` sent to connection id `dcid`. One HMAC, no allocation beyond it. */
  check(token: Uint8Array, remote: RemoteInfo, dcid: Uint8Array): TokenCheck {
    if (token.length < HEAD_BYTES + MAC_BYTES || token[0] !== FORMAT) return INVALID
    const originalLength = token[7] as number
    if (originalLength > MAX_CID_BYTES || token.length !== HEAD_BYTES + originalLength + MAC_BYTES) return INVALID
    const bytes = Buffer.from(token.buffer, token.byteOffset, token.byteLength)
    const head = bytes.subarray(0, HEAD_BYTES + originalLength)
    const given = bytes.subarray(HEAD_BYTES + originalLength)
    if (!timingSafeEqual(given, this.mac(head, dcid, remote))) return INVALID
    const expires = bytes.readUIntBE(1, 6)
    if (expires <= this.now()) return EXPIRED
    return { ok: true, original: Buffer.from(head.subarray(HEAD_BYTES)), id: given.toString('latin1'), expires }
  }

  /** Mark `token` used; false when it already was (a replay). */
  consume(token: ValidToken): boolean {
    const now = this.now()
    for (const [id, expires] of this.used) {
      if (expires > now) break
      this.used.delete(id)
    }
    if (this.used.has(token.id)) return false
    if (this.used.size >= this.maxUsed) {
      // Only reachable if the bound was set below budget × lifetime: forget the oldest.
      const oldest = this.used.keys().next().value
      if (oldest !== undefined) this.used.delete(oldest)
    }
    this.used.set(token.id, token.expires)
    return true
  }

  private mac(head: Uint8Array, retryScid: Uint8Array, remote: RemoteInfo): Buffer {
    const port = Buffer.allocUnsafe(3)
    port[0] = retryScid.length
    port.writeUInt16BE(remote.port, 1)
    return createHmac('sha256', this.key)
      .update(head)
      .update(port)
      .update(retryScid)
      .update(normalizeIp(remote.host))
      .digest()
      .subarray(0, MAC_BYTES)
  }
}
