import type { DatagramEndpoint, DatagramPeer, Logger } from '@crust/core'
import { errorMessage, normalizeIp } from '@crust/core/plugin'
import type { QUICSocket } from '@crust/quic-lib'
import type { DropLog } from './drop-log.js'
import type { TokenBucket } from '@crust/core/plugin'

/**
 * Raw datagrams on the node's one QUIC socket, for NAT traversal: STUN
 * queries and punch packets leave from the port QUIC listens and dials on,
 * and non-QUIC datagrams arriving there are handed to the subscribers,
 * synchronously (nothing is queued here) and within a rate budget: anyone
 * can send them, and each may make a service do work.
 */
export class SharedSocketDatagrams implements DatagramEndpoint {
  private readonly handlers = new Set<(data: Uint8Array, from: DatagramPeer) => void>()

  constructor(
    private readonly socket: () => QUICSocket | undefined,
    private readonly bind: () => Promise<QUICSocket>,
    private readonly logger: Logger,
    private readonly budget: TokenBucket,
    private readonly drops: DropLog,
  ) {}

  get localPort(): number | undefined {
    return this.socket()?.port
  }

  async open(): Promise<number> {
    return (this.socket() ?? (await this.bind())).port
  }

  async send(data: Uint8Array, to: DatagramPeer): Promise<void> {
    const socket = this.socket() ?? (await this.bind())
    try {
      // The library maps IPv4 targets onto a dual-stack socket and refuses impossible ones.
      await socket.send(data, to.port, to.host)
    } catch (error) {
      this.logger.debug(`datagram to ${to.host}:${to.port} not sent: ${errorMessage(error)}`)
    }
  }

  onForeignDatagram(handler: (data: Uint8Array, from: DatagramPeer) => void): () => void {
    this.handlers.add(handler)
    return () => this.handlers.delete(handler)
  }

  /** Called by the socket for every datagram that is not QUIC. */
  deliver(data: Buffer, remote: { address: string; port: number }): void {
    if (this.handlers.size === 0) return
    if (!this.budget.take()) {
      this.drops.count('foreign-budget')
      return
    }
    const from = { host: normalizeIp(remote.address), port: remote.port }
    for (const handler of this.handlers) {
      try {
        handler(data, from)
      } catch (error) {
        this.logger.warn(`a datagram subscriber threw: ${errorMessage(error)}`)
      }
    }
  }
}
