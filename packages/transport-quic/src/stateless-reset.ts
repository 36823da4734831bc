/**
 * Stateless resets (RFC 9000 §10.3): how a node that lost a connection's
 * state, e.g. because it restarted, tells the peer at once instead of
 * leaving it to its idle timeout.
 *
 * @packageDocumentation
 */
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto'
import type { TokenBucket } from '@crust/core/plugin'
import type { QUICSocket } from '@crust/quic-lib'

/** What quiche 0.18 encodes a server's transport parameters into (`[0; 128]` in its TLS setup): more fails the handshake. */
const TRANSPORT_PARAMS_BUDGET = 128
/** The most quiche sends in one datagram, whatever the limits: 16383, the largest 2-byte varint. */
const QUICHE_MAX_SEND = 16_383

/** The server's settings that size its transport parameters. */
export interface ServerParams {
  readonly maxIdleTimeout: number
  readonly initialMaxData: number
  readonly initialMaxStreamDataBidiLocal: number
  readonly initialMaxStreamDataBidiRemote: number
  readonly initialMaxStreamDataUni: number
  readonly initialMaxStreamsBidi: number
  readonly initialMaxStreamsUni: number
  readonly maxRecvUdpPayloadSize: number
}

const varintLength = (v: number): number => (v < 64 ? 1 : v < 16_384 ? 2 : v < 2 ** 30 ? 4 : 8)
/** One encoded transport parameter: id (< 64: 1 byte), length, value. */
const param = (length: number): number => 1 + varintLength(length) + length
const numeric = (v: number): number => (v === 0 ? 0 : param(varintLength(v)))

/**
 * The config overrides that make a server advertise `token` on a connection
 * whose client's original DCID is `originalDcidLength` bytes long, or
 * undefined when the token cannot fit in quiche 0.18's 128-byte transport
 * parameters (e.g. a client with 20-byte DCIDs and large windows): that
 * connection then has no reset token. It fits with Crust's defaults, with
 * the ACK delay exponent left out (0: delays in µs, 2 bytes more per ACK)
 * and, on loopback, the advertised datagram size at 16383, which is all
 * quiche sends anyway. The sizes are quiche's encoding rules
 * (`TransportParams::encode`); the library's defaults: max_ack_delay 25,
 * active migration disabled, 20-byte source connection ids, after a Retry.
 */
export function tokenConfig(
  token: bigint,
  params: ServerParams,
  originalDcidLength: number,
): { statelessResetToken: bigint; ackDelayExponent: 0; maxRecvUdpPayloadSize: number } | undefined {
  const maxRecvUdpPayloadSize = Math.min(params.maxRecvUdpPayloadSize, QUICHE_MAX_SEND)
  const size =
    param(originalDcidLength) +
    param(TOKEN_LENGTH) +
    numeric(params.maxIdleTimeout) +
    numeric(maxRecvUdpPayloadSize) +
    numeric(params.initialMaxData) +
    numeric(params.initialMaxStreamDataBidiLocal) +
    numeric(params.initialMaxStreamDataBidiRemote) +
    numeric(params.initialMaxStreamDataUni) +
    numeric(params.initialMaxStreamsBidi) +
    numeric(params.initialMaxStreamsUni) +
    numeric(25) + // max_ack_delay
    2 + // disable_active_migration
    2 * param(20) // initial and retry source connection ids
  return size <= TRANSPORT_PARAMS_BUDGET ? { statelessResetToken: token, ackDelayExponent: 0, maxRecvUdpPayloadSize } : undefined
}

/** Smallest datagram answered with a reset: the reset is one byte shorter, so resets cannot loop (RFC 9000 §10.3.3). */
export const MIN_RESET_TRIGGER = 43
/** Length of a stateless reset token. */
const TOKEN_LENGTH = 16
/** The library's connection ids (quiche's longest). */
const CONNECTION_ID_LENGTH = 20
/** Random bytes in a connection id this node issues; a MAC of them under the node's key makes up the rest. */
const ID_NONCE_LENGTH = 8

/**
 * Tokens and resets of one node. A token is HMAC-SHA256 under a key derived
 * from the node's private key, over the connection id, cut to 128 bits: a
 * restarted node with the same key file computes the token it advertised
 * for a connection id it no longer knows, and nobody else can.
 *
 * quiche 0.18 advertises a token only as a server (a transport parameter;
 * it issues no further connection ids) and checks only the server's token:
 * so the peers that dialled a node are reset when it restarts, and a node
 * detects a reset only on connections it dialled.
 */
export class StatelessResets {
  private readonly key: Buffer
  private readonly idKey: Buffer
  private count = 0

  constructor(
    privateKeyPem: string,
    private readonly socket: QUICSocket,
    private readonly budget: TokenBucket,
  ) {
    this.key = createHmac('sha256', privateKeyPem).update('crust/quic stateless reset key v1').digest()
    this.idKey = createHmac('sha256', privateKeyPem).update('crust/quic connection id key v1').digest()
  }

  /**
   * A connection id for a server connection (the Retry's, which the client
   * then uses): 8 random bytes and a 96-bit MAC of them under the node's
   * key. After a restart the node still recognises the ids it issued, and
   * resets only those: a datagram that merely looks like a short-header
   * packet (a STUN server's garbage, a reflector) draws nothing, so no
   * reset loop can start with anything but a packet sent to one of ours.
   */
  newConnectionId(): Buffer {
    const id = Buffer.allocUnsafe(CONNECTION_ID_LENGTH)
    randomFillSync(id, 0, ID_NONCE_LENGTH)
    this.idMac(id.subarray(0, ID_NONCE_LENGTH)).copy(id, ID_NONCE_LENGTH)
    return id
  }

  /** Whether this node (this key) issued connection id `id`. */
  issued(id: Uint8Array): boolean {
    if (id.byteLength !== CONNECTION_ID_LENGTH) return false
    const given = Buffer.from(id.buffer, id.byteOffset + ID_NONCE_LENGTH, CONNECTION_ID_LENGTH - ID_NONCE_LENGTH)
    return timingSafeEqual(given, this.idMac(id.subarray(0, ID_NONCE_LENGTH)))
  }

  /** Resets sent so far. */
  get sent(): number {
    return this.count
  }

  /** The token for connection id `cid` (what quiche takes: a 128-bit big-endian integer). */
  tokenFor(cid: Uint8Array): bigint {
    return BigInt(`0x${this.tokenBytes(cid).toString('hex')}`)
  }

  /**
   * Answer a short-header datagram for a connection id this node issued
   * (before a restart) but no longer knows with a stateless reset, within
   * the budget; never to a datagram under {@link MIN_RESET_TRIGGER} bytes,
   * and always shorter than it.
   */
  async answer(dcid: Uint8Array, length: number, remote: { host: string; port: number }): Promise<void> {
    if (length < MIN_RESET_TRIGGER || !this.issued(dcid) || !this.budget.take()) return
    // Shaped like a short-header packet: fixed bit set, unpredictable bytes, the token last.
    const reset = Buffer.allocUnsafe(Math.min(length - 1, MIN_RESET_TRIGGER - 1))
    randomFillSync(reset, 0, reset.length - TOKEN_LENGTH)
    reset[0] = (reset[0]! & 0x3f) | 0x40
    this.tokenBytes(dcid).copy(reset, reset.length - TOKEN_LENGTH)
    this.count++
    // A send that fails is a lost reset; the peer's next packet draws another.
    await this.socket.send_(reset, 0, reset.length, remote.port, remote.host).catch(() => 0)
  }

  private idMac(nonce: Uint8Array): Buffer {
    return createHmac('sha256', this.idKey).update(nonce).digest().subarray(0, CONNECTION_ID_LENGTH - ID_NONCE_LENGTH)
  }

  private tokenBytes(cid: Uint8Array): Buffer {
    return createHmac('sha256', this.key).update(cid).digest().subarray(0, TOKEN_LENGTH)
  }
}
