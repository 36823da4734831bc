import { errorMessage } from '../../error-text.js'
import { AbortError, AuthenticationError, DialError, HandshakeFailedError, TimeoutError, UnsupportedAddressError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { formatAddress, isWildcard, parseAddress } from '../../transport/address.js'
import {
  CloseCode,
  type DialOptions,
  type RemotePeer,
  type Transport,
  type TransportComponents,
  type TransportConnection,
  type TransportFactory,
} from '../../transport/types.js'
import { Credentials, type Presentation } from './auth.js'
import { MemoryConnection } from './connection.js'
import { MEMORY_SCHEME, type MemoryListener, type MemoryNetwork } from './network.js'

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * This node's host on the network: an IP literal or a name (`alice`). What
   * the listener's gate sees (IP blacklists, per-IP limits) and what
   * `addresses()` lists for a wildcard listen. Default `127.0.0.1`: every
   * node shares it, like nodes on one machine, told apart by port.
   */
  readonly host?: string
}

/** @internal A dial in progress, from its dialling transport to the listener the network routes it to. */
export class PendingDial {
  /** True once the dial ended: connected, refused, or given up (aborted, timed out, its transport closed). */
  settled = false
  constructor(
    /** The dialling transport. */
    readonly transport: MemoryTransport,
    /** The dialler's host and ephemeral port: what the listener's gate sees. */
    readonly host: string,
    readonly port: number,
    /** The address dialled. */
    readonly address: string,
    readonly expectedPeerId: string | undefined,
    private readonly onSettle: (outcome: { connection: MemoryConnection } | { error: Error }) => void,
  ) {}

  /** Fail the dial (refused by the network or the listener). */
  refuse(error: Error): void {
    this.settle({ error })
  }

  settle(outcome: { connection: MemoryConnection } | { error: Error }): void {
    if (this.settled) return
    this.settled = true
    this.onSettle(outcome)
  }
}

/**
 * The memory transport: nodes in one process connected through a shared
 * {@link MemoryNetwork}, with no sockets. Inbound dials pass the core's gate
 * first; then each side authenticates the other under its auth mode (see
 * `Credentials.authenticate`: the certificate chain checks of the mode,
 * `expectedPeerId`, and a signature over a fresh challenge proving the key,
 * in place of TLS). Nothing is encrypted: no bytes leave the process.
 */
export class MemoryTransport implements Transport, MemoryListener {
  readonly id = MEMORY_SCHEME
  readonly defaultListenAddresses: readonly string[]
  private readonly host: string
  private readonly bound: string[] = []
  private readonly connections = new Set<TransportConnection>()
  private readonly dialing = new Set<PendingDial>()
  private readonly credentials: Credentials
  private readonly logger: Logger
  private closed = false

  constructor(
    private readonly network: MemoryNetwork,
    private readonly components: TransportComponents,
    options: MemoryTransportOptions = {},
  ) {
    this.host = options.host ?? '127.0.0.1'
    this.defaultListenAddresses = [formatAddress(MEMORY_SCHEME, this.host, 0)]
    this.credentials = new Credentials(components.security)
    this.logger = components.logger.child(MEMORY_SCHEME)
  }

  canDial(address: string): boolean {
    return parseAddress(address)?.transport === MEMORY_SCHEME
  }

  async listen(address: string): Promise<void> {
    const parsed = parseAddress(address)
    if (parsed?.transport !== MEMORY_SCHEME) throw new UnsupportedAddressError(address)
    const host = isWildcard(parsed.host) ? this.host : parsed.host
    this.bound.push(this.network.bind(host, parsed.port, this))
  }

  addresses(): string[] {
    return [...this.bound]
  }

  dial(address: string, options: DialOptions = {}): Promise<TransportConnection> {
    if (!this.canDial(address)) return Promise.reject(new UnsupportedAddressError(address))
    const { signal, expectedPeerId } = options
    if (signal?.aborted) return Promise.reject(new AbortError())
    const { handshakeTimeout } = this.components.limits
    return new Promise<TransportConnection>((resolve, reject) => {
      const onAbort = (): void => attempt.settle({ error: new AbortError() })
      const timer = setTimeout(
        () => attempt.settle({ error: new TimeoutError(`handshake with ${address} timed out after ${handshakeTimeout} ms`) }),
        handshakeTimeout,
      )
      const attempt = new PendingDial(this, this.host, this.network.ephemeralPort(), address, expectedPeerId, (outcome) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.dialing.delete(attempt)
        if ('error' in outcome) reject(outcome.error)
        else resolve(outcome.connection)
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.dialing.add(attempt)
      this.network.route(this.host, address, attempt, (to) => new DialError(`${to}: connection refused`))
    })
  }

  /** @internal A dial reached this listener: gate, authenticate both ways, hand over. */
  accept(attempt: PendingDial): void {
    const { gate, onInboundFailure } = this.components
    const decision = gate.admitInbound({ transport: MEMORY_SCHEME, host: attempt.host, port: attempt.port })
    if (!decision.allow) {
      attempt.refuse(new DialError(`${attempt.address}: connection refused by the listener (${decision.reason})`))
      return
    }
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      decision.release?.()
    }
    const label = formatAddress(MEMORY_SCHEME, attempt.host, attempt.port)
    // The handshake continues after the gate, as a TLS one would: the dialler may give up meanwhile.
    queueMicrotask(() => {
      if (attempt.settled || this.closed) {
        release()
        attempt.refuse(new DialError(`${attempt.address}: the listener closed during the handshake`))
        onInboundFailure(label, new HandshakeFailedError(`${label}: the handshake was cut short (the dialler gave up or this transport closed)`))
        return
      }
      this.handshake(attempt, label, release)
    })
  }

  private handshake(attempt: PendingDial, label: string, release: () => void): void {
    const dialer = attempt.transport
    const [dialerChallenge, listenerChallenge] = [Credentials.challenge(), Credentials.challenge()]
    const fromListener: Presentation = this.credentials.present(dialerChallenge)
    const fromDialer: Presentation = dialer.credentials.present(listenerChallenge)
    // The dialler checks the listener first, as a TLS 1.3 client does.
    let listenerPeer: RemotePeer
    try {
      listenerPeer = dialer.credentials.authenticate(fromListener, dialerChallenge, attempt.expectedPeerId)
    } catch (error) {
      release()
      attempt.settle({ error: asAuthError(error) })
      this.components.onInboundFailure(label, new AuthenticationError(`${label} refused this node: ${errorMessage(error)}`))
      return
    }
    let dialerPeer: RemotePeer
    try {
      dialerPeer = this.credentials.authenticate(fromDialer, listenerChallenge)
    } catch (error) {
      release()
      attempt.settle({ error: new AuthenticationError(`${attempt.address} refused this node: ${errorMessage(error)}`, { cause: error }) })
      this.components.onInboundFailure(label, asAuthError(error))
      return
    }
    const listenerAddress = attempt.address
    const [outbound, inbound] = MemoryConnection.pair(
      { direction: 'outbound', localAddress: label, remoteAddress: listenerAddress, remotePeer: listenerPeer, limits: dialer.components.limits },
      { direction: 'inbound', localAddress: listenerAddress, remoteAddress: label, remotePeer: dialerPeer, limits: this.components.limits },
    )
    this.network.track(outbound)
    dialer.adopt(outbound)
    this.adopt(inbound)
    void inbound.closed.then(release)
    attempt.settle({ connection: outbound })
    this.logger.debug(`inbound connection from ${label} (${dialerPeer.peerId})`)
    this.components.onInboundConnection(inbound)
  }

  private adopt(connection: TransportConnection): void {
    this.connections.add(connection)
    void connection.closed.then(() => this.connections.delete(connection))
  }

  async close(): Promise<void> {
    this.closed = true
    for (const attempt of [...this.dialing]) attempt.settle({ error: new DialError('the transport is closing') })
    for (const address of this.bound.splice(0)) this.network.unbind(address)
    await Promise.allSettled([...this.connections].map((c) => c.close({ code: CloseCode.SHUTDOWN, reason: 'transport closing' })))
  }
}

function asAuthError(error: unknown): Error {
  return error instanceof AuthenticationError ? error : new AuthenticationError(errorMessage(error), { cause: error })
}

/**
 * The memory transport as a plugin: every node given a factory over the same
 * `network` can dial the others' `memory://host:port` addresses.
 *
 * @example
 * ```ts
 * const network = new MemoryNetwork()
 * const a = await createNode({ transports: [memoryTransport(network)], listen: ['memory://a:1'] })
 * const b = await createNode({ transports: [memoryTransport(network)] })
 * network.delay('memory://a:1', 500) // dials to a now take 500 ms
 * ```
 */
export function memoryTransport(network: MemoryNetwork, options: MemoryTransportOptions = {}): TransportFactory {
  return (components) => new MemoryTransport(network, components, options)
}
