import { type Socket, createSocket } from 'node:dgram'

/**
 * A UDP relay on loopback between one client and a QUIC server: the client
 * dials the relay, which forwards datagrams both ways. Tests cut it to make
 * a peer vanish without a CONNECTION_CLOSE (as a killed process or a pulled
 * cable would), or drop a share of datagrams to force loss recovery.
 */
export class UdpRelay {
  private readonly socket: Socket
  private client: { address: string; port: number } | undefined
  /** Drop every datagram from now on (both directions). */
  cut = false
  /** Share of datagrams dropped at random, 0..1. */
  loss = 0
  forwarded = 0
  dropped = 0

  private constructor(private readonly target: { host: string; port: number }) {
    this.socket = createSocket('udp4')
  }

  static async start(target: { host: string; port: number }): Promise<UdpRelay> {
    const relay = new UdpRelay(target)
    await new Promise<void>((resolve) => relay.socket.bind(0, '127.0.0.1', resolve))
    relay.socket.on('message', (data, from) => relay.forward(data, from))
    return relay
  }

  /** The address to dial instead of the server's. */
  get address(): string {
    return `quic://127.0.0.1:${this.socket.address().port}`
  }

  private forward(data: Buffer, from: { address: string; port: number }): void {
    if (this.cut || (this.loss > 0 && Math.random() < this.loss)) {
      this.dropped++
      return
    }
    this.forwarded++
    if (from.port === this.target.port && from.address === this.target.host) {
      if (this.client) this.socket.send(data, this.client.port, this.client.address)
      return
    }
    this.client = { address: from.address, port: from.port }
    this.socket.send(data, this.target.port, this.target.host)
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()))
  }
}
