import type { Logger } from '@crust/core'
import { type QUICServerConfigInput, type QUICSocket, native } from '@crust/quic-lib'
import { buildQuicheConfig, serverDefault } from '@crust/quic-lib/config.js'
import type { Config as NativeConfig, Connection as NativeConnection, Header } from '@crust/quic-lib/native/types.js'
import { errorMessage } from '@crust/core/plugin'
import { TransportError, encodeRefusal } from './codes.js'
import type { RemoteInfo } from './listener-guard.js'

const { quiche } = native

/** Refusals remembered per connection id, so the client's retransmitted Initials are dropped, not re-gated. */
const REMEMBER_MS = 10_000
const MAX_REMEMBERED = 4096

/**
 * Refuses inbound attempts the core's gate turned down, without creating a
 * library connection: a throw-away quiche connection reads the client's
 * Initial, sends its first flight (the client can only decrypt a close in
 * the Handshake space once it has that) and then CONNECTION_REFUSED with the
 * gate's code in the reason phrase, which the dialler's transport turns into
 * the matching typed error (`BlacklistedError`, `ConnectionLimitError`).
 * Nothing of it is kept beyond this call.
 */
export class Refusals {
  private readonly remembered = new Map<string, number>()
  private config: NativeConfig | undefined

  constructor(
    private readonly socket: QUICSocket,
    /** The server's config, as given to its constructor. */
    private readonly serverConfig: QUICServerConfigInput,
    private readonly logger: Logger,
  ) {}

  /** True when `dcid` was refused recently: drop its datagrams. */
  has(dcid: string): boolean {
    const until = this.remembered.get(dcid)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.remembered.delete(dcid)
    return false
  }

  /** Refuse the attempt whose Initial (with a valid retry token for `original`) is `data`. */
  async refuse(
    remote: RemoteInfo,
    header: Header,
    original: Uint8Array,
    dcid: string,
    data: Buffer,
    code: number,
    reason: string,
  ): Promise<void> {
    this.remember(dcid)
    const local = { host: this.socket.host, port: this.socket.port }
    let conn: NativeConnection
    try {
      conn = quiche.Connection.accept(header.dcid, original, local, { host: remote.host, port: remote.port }, this.nativeConfig())
      conn.recv(data, { to: local, from: { host: remote.host, port: remote.port } })
    } catch (error) {
      this.logger.debug(`refusing ${remote.host}:${remote.port}: ${errorMessage(error)}`)
      return
    }
    await this.flush(conn)
    conn.close(false, TransportError.CONNECTION_REFUSED, encodeRefusal(code, reason))
    await this.flush(conn)
  }

  private async flush(conn: NativeConnection): Promise<void> {
    const buffer = Buffer.allocUnsafe(quiche.MAX_DATAGRAM_SIZE)
    for (let i = 0; i < 16; i++) {
      let sent: ReturnType<NativeConnection['send']>
      try {
        sent = conn.send(buffer)
      } catch {
        return
      }
      if (sent === null) return
      const [length, info] = sent
      await this.socket.send_(Buffer.from(buffer.subarray(0, length)), 0, length, info.to.port, info.to.host).catch(() => 0)
    }
  }

  private nativeConfig(): NativeConfig {
    // The refusal needs our certificate to produce a valid first flight, nothing of the peer's.
    this.config ??= buildQuicheConfig({
      // What the server runs with: the library's defaults under ours.
      ...serverDefault,
      ...this.serverConfig,
      verifyPeer: false,
      verifyCallback: undefined,
      maxSendUdpPayloadSize: quiche.MAX_DATAGRAM_SIZE,
    })
    return this.config
  }

  private remember(dcid: string): void {
    if (this.remembered.size >= MAX_REMEMBERED) {
      const oldest = this.remembered.keys().next().value
      if (oldest !== undefined) this.remembered.delete(oldest)
    }
    this.remembered.set(dcid, Date.now() + REMEMBER_MS)
  }
}
