import { type QUICSocket, native } from '@crust/quic-lib'
import type { Header } from '@crust/quic-lib/native/types.js'
import type { DropLog } from './drop-log.js'
import type { TokenBucket } from '@crust/core/plugin'
import type { RetryTokens, ValidToken } from './retry-token.js'

const { quiche } = native

/**
 * Smallest datagram that may carry a client's Initial, and so the smallest
 * that may draw any answer from the listener (RFC 9000 §14.1, §6).
 */
export const MIN_INITIAL_DATAGRAM = 1200

/** Version 0 marks a Version Negotiation packet (RFC 9000 §17.2.1): never answered. */
const VERSION_NEGOTIATION = 0

/** A remote UDP endpoint. */
export interface RemoteInfo {
  readonly host: string
  readonly port: number
}

/** What the listener does with a datagram for no known connection. */
export type Screening =
  /** Dropped (counted) or answered statelessly (Retry, Version Negotiation): nothing more to do. */
  | { readonly kind: 'done' }
  /** An Initial with a token: check it once the attempt is known not to be in progress already. */
  | { readonly kind: 'token'; readonly token: Uint8Array }

const DONE = { kind: 'done' } as const

/**
 * The listener's answer to datagrams that do not belong to a connection,
 * before the library sees any of them. From an address nobody has validated
 * it sends at most one small packet per datagram of at least 1200 bytes
 * (Retry ~110 B, Version Negotiation ~30 B: far below the 3× of RFC 9000
 * §8.1), within a global budget, and nothing at all to smaller datagrams
 * (which is also what makes a 16-byte spoofed datagram worthless as a
 * reflector). Only an Initial with a token that is ours, unexpired, bound
 * to this source and connection id and unused gets through to the gate.
 */
export class ListenerGuard {
  private retries = 0
  private negotiations = 0

  constructor(
    private readonly socket: QUICSocket,
    private readonly tokens: RetryTokens,
    private readonly replies: TokenBucket,
    private readonly drops: DropLog,
  ) {}

  /** Retry and Version Negotiation packets sent so far. */
  get sent(): { readonly retries: number; readonly versionNegotiations: number } {
    return { retries: this.retries, versionNegotiations: this.negotiations }
  }

  /** First look at a datagram for no known connection: drop it, answer it statelessly, or ask for its token to be checked. */
  async screen(remote: RemoteInfo, header: Header, data: Buffer): Promise<Screening> {
    if (header.version === VERSION_NEGOTIATION) return this.drop('unknown-connection')
    const supported = quiche.versionIsSupported(header.version)
    // Short headers, Handshake, 0-RTT (disabled here) and Retry cannot start a connection.
    if (supported && header.ty !== quiche.Type.Initial) return this.drop('unknown-connection')
    if (data.byteLength < MIN_INITIAL_DATAGRAM) return this.drop('short-datagram')
    if (!supported) {
      if (!this.replies.take()) return this.drop('reply-budget')
      await this.negotiateVersion(remote, header)
      return DONE
    }
    const token = header.token
    if (token !== undefined && token.byteLength > 0) return { kind: 'token', token }
    if (!this.replies.take()) return this.drop('reply-budget')
    await this.retry(remote, header)
    return DONE
  }

  /** Check a token for an attempt not yet in progress; undefined (counted) unless it may go to the gate. */
  admit(token: Uint8Array, remote: RemoteInfo, header: Header, pending: number, maxPending: number): ValidToken | undefined {
    const check = this.tokens.check(token, remote, header.dcid)
    if (!check.ok) {
      this.drops.count(check.reason)
      return undefined
    }
    // Full: drop without spending the token, so the client's retransmission can still get in.
    if (pending >= maxPending) {
      this.drops.count('handshake-limit')
      return undefined
    }
    if (!this.tokens.consume(check)) {
      this.drops.count('token-reused')
      return undefined
    }
    return check
  }

  private drop(reason: Parameters<DropLog['count']>[0]): Screening {
    this.drops.count(reason)
    return DONE
  }

  private async retry(remote: RemoteInfo, header: Header): Promise<void> {
    const scid = this.tokens.newRetryScid()
    const token = this.tokens.mint(remote, header.dcid, scid)
    const out = Buffer.allocUnsafe(quiche.MAX_DATAGRAM_SIZE)
    let length: number
    try {
      length = quiche.retry(header.scid, header.dcid, scid, token, header.version, out)
    } catch {
      this.drops.count('unparsable')
      return
    }
    this.retries++
    await this.send(out, length, remote)
  }

  private async negotiateVersion(remote: RemoteInfo, header: Header): Promise<void> {
    const out = Buffer.allocUnsafe(quiche.MAX_DATAGRAM_SIZE)
    let length: number
    try {
      length = quiche.negotiateVersion(header.scid, header.dcid, out)
    } catch {
      this.drops.count('unparsable')
      return
    }
    this.negotiations++
    await this.send(out, length, remote)
  }

  private async send(out: Buffer, length: number, remote: RemoteInfo): Promise<void> {
    // A send that fails is a lost packet; the client retransmits its Initial.
    await this.socket.send_(out, 0, length, remote.port, remote.host).catch(() => 0)
  }
}
