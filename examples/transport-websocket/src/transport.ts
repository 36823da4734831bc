import {
  CloseCode,
  ConnectionClosedError,
  type DialOptions,
  type Logger,
  type Transport,
  type TransportComponents,
  type TransportConnection,
  UnsupportedAddressError,
} from '@crust/core'
import { formatAddress } from '@crust/core/plugin'
import { SCHEME, parseWsAddress } from './addresses.js'
import type { MuxSettings, WebSocketConnection } from './connection.js'
import { type DialContext, dialWebSocket } from './dial.js'
import { InboundServer } from './inbound.js'
import type { ResolvedOptions } from './options.js'

/**
 * Secure WebSocket transport: TLS 1.3 with the node's identity, the core's
 * auth modes and gate, and `@crust/mux` streams inside one WebSocket.
 */
export class WebSocketTransport implements Transport {
  readonly id = SCHEME
  readonly defaultListenAddresses: readonly string[]
  private readonly connections = new Set<WebSocketConnection>()
  private readonly pending = new Set<(error: Error) => void>()
  private readonly logger: Logger
  private readonly mux: MuxSettings
  private inbound: InboundServer | undefined

  constructor(
    private readonly components: TransportComponents,
    private readonly options: ResolvedOptions,
  ) {
    this.defaultListenAddresses = [formatAddress(SCHEME, options.host, options.port)]
    this.logger = components.logger.child(SCHEME)
    this.mux = { limits: components.limits, logger: this.logger }
  }

  canDial(address: string): boolean {
    return parseWsAddress(address) !== undefined
  }

  async listen(address: string): Promise<void> {
    const parsed = parseWsAddress(address)
    if (parsed === undefined) throw new UnsupportedAddressError(address)
    this.inbound ??= new InboundServer(this.components, this.options, this.mux, this.logger, (c) => this.adopt(c))
    await this.inbound.bind(parsed.host, parsed.port)
  }

  addresses(): string[] {
    return this.inbound?.addresses() ?? []
  }

  async dial(address: string, options: DialOptions = {}): Promise<TransportConnection> {
    const parsed = parseWsAddress(address)
    if (parsed === undefined) throw new UnsupportedAddressError(address)
    const context: DialContext = {
      security: this.components.security,
      limits: this.components.limits,
      options: this.options,
      mux: this.mux,
      pending: this.pending,
      adopt: (c) => this.adopt(c),
    }
    return dialWebSocket(address, parsed, context, options)
  }

  /** Stop listening, cancel dials in progress, close every connection (SHUTDOWN), drop half-open sockets. */
  async close(): Promise<void> {
    const stopping = this.inbound?.stopListening()
    for (const cancel of [...this.pending]) cancel(new ConnectionClosedError('the transport is closing', CloseCode.SHUTDOWN))
    await Promise.allSettled([...this.connections].map((c) => c.close({ code: CloseCode.SHUTDOWN, reason: 'transport closing' })))
    this.inbound?.destroySockets()
    await stopping
  }

  private adopt(connection: WebSocketConnection): void {
    this.connections.add(connection)
    void connection.closed.then(() => this.connections.delete(connection))
  }
}
