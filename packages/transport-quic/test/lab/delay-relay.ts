import { type Socket, createSocket } from 'node:dgram'

/**
 * A UDP relay that delays every datagram by `delay` ms each way, between one
 * client and a target (e.g. a node across a veth pair): a path with a real
 * round-trip time, as quiche's timers (loss recovery, draining) see one.
 */
export class DelayRelay {
  private readonly socket: Socket
  private client: { address: string; port: number } | undefined
  private readonly timers = new Set<NodeJS.Timeout>()

  private constructor(
    private readonly target: { host: string; port: number },
    readonly delay: number,
  ) {
    this.socket = createSocket('udp4')
  }

  static async start(host: string, target: { host: string; port: number }, delay: number): Promise<DelayRelay> {
    const relay = new DelayRelay(target, delay)
    await new Promise<void>((resolve) => relay.socket.bind(0, host, resolve))
    relay.socket.on('message', (data, from) => relay.forward(data, from))
    return relay
  }

  /** The address to dial instead of the target's. */
  get address(): string {
    const { address, port } = this.socket.address()
    return `quic://${address}:${port}`
  }

  private forward(data: Buffer, from: { address: string; port: number }): void {
    const back = from.port === this.target.port && from.address === this.target.host
    if (!back) this.client = { address: from.address, port: from.port }
    const to = back ? this.client : { address: this.target.host, port: this.target.port }
    if (to === undefined) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      this.socket.send(data, to.port, to.address)
    }, this.delay)
    this.timers.add(timer)
  }

  close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer)
    return new Promise((resolve) => this.socket.close(() => resolve()))
  }
}
