/**
 * The node's transports and addresses: instantiating the transport plugins,
 * listening, closing; which transport dials an address; the addresses the
 * node announces (its own, what services publish, what peers echo back); and
 * the handshake options that carry them.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import type { HandshakeOptions } from '../connection/handshake.js'
import { Tokens } from '../di/tokens.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import type { AdvertisedAddress } from '../service/types.js'
import { parseAddress } from '../transport/address.js'
import { type ConnectionMethod, type Transport, type TransportComponents, type TransportLimits, isConnectionMethod } from '../transport/types.js'
import { ConfigError, ListenError } from '../errors.js'
import { asError } from '../error-text.js'
import { ExternalAddressBook } from './external-addresses.js'
import type { Registrar } from './registrar.js'

/** Most addresses a HELLO carries. */
const MAX_CLAIMED_ADDRESSES = 32

/** Transports, listening and the node's addresses. */
@injectable()
export class TransportHost {
  /** This node's session, told to every peer in the handshake: new for each node object. */
  readonly session = randomBytes(8).toString('hex')
  private transports: Transport[] = []
  /** Addresses services publish (e.g. UPnP mappings), by service id. */
  private readonly advertisedBy = new Map<string, readonly AdvertisedAddress[]>()
  /** Where peers' echoes say we are, per transport. */
  readonly externalAddresses: ExternalAddressBook

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Events) events: TypedEmitter<NodeEvents>,
    @inject(Tokens.NetworkHash) private readonly networkHash: string,
    @inject(Tokens.Registrar) private readonly registrar: Registrar,
  ) {
    this.externalAddresses = new ExternalAddressBook(
      () => this.addresses(),
      config.externalAddresses,
      logger,
      (transport, addresses) => events.emit('address:conflict', { transport, addresses }),
    )
  }

  /** Instantiate the transport plugins with `components` and listen (not as a client). */
  async start(components: TransportComponents): Promise<void> {
    this.transports = this.config.transports.map((factory) => factory({ ...components, logger: this.logger.child('transport') }))
    await this.listen()
  }

  /** Close every transport. */
  async close(): Promise<void> {
    await Promise.allSettled(this.transports.map((t) => t.close()))
  }

  /** The timing and stream limits every transport (and connection-making service) applies. */
  get limits(): TransportLimits {
    const { idleTimeout, keepAliveInterval, handshakeTimeout, maxInboundStreams } = this.config.connection
    return { idleTimeout, keepAliveInterval, handshakeTimeout, maxInboundStreams }
  }

  /** Addresses peers can dial us at: the transports' own, then what services publish (e.g. UPnP mappings). */
  addresses(): string[] {
    const published = [...this.advertisedBy.values()].flat().map((entry) => entry.address)
    return [...new Set([...this.listenAddresses(), ...published])]
  }

  /** Addresses the transports are bound to. */
  listenAddresses(): string[] {
    return this.transports.flatMap((t) => t.addresses())
  }

  /** The transport with id `id`, if configured. */
  transport(id: string): Transport | undefined {
    return this.transports.find((t) => t.id === id)
  }

  /** The transport that can dial `address`, if any. */
  transportFor(address: string): Transport | undefined {
    return this.transports.find((t) => t.canDial(address))
  }

  /** Replace the addresses service `source` publishes. */
  advertise(source: string, addresses: readonly AdvertisedAddress[]): void {
    // Checked here, where the plugin can be named: a malformed method would only fail later, in a peer's handshake.
    const malformed = addresses.find((entry) => !isConnectionMethod(entry.method))
    if (malformed !== undefined) throw new ConfigError(`${source} advertised ${malformed.address} with a malformed method ${JSON.stringify(malformed.method)}`)
    if (addresses.length === 0) this.advertisedBy.delete(source)
    else this.advertisedBy.set(source, [...addresses])
  }

  /** How a peer reached us when it dialled `target`: the method of the published address it names, else direct. */
  methodOf(target: string): ConnectionMethod {
    for (const published of this.advertisedBy.values()) {
      const match = published.find((entry) => entry.address === target)
      if (match !== undefined) return match.method
    }
    return 'direct'
  }

  /** What this node says in its handshakes: network, role, timeout and the addresses it claims. */
  handshakeOptions(): HandshakeOptions {
    const addresses = this.config.role === 'client' ? [] : (this.config.externalAddresses ?? this.addresses())
    return {
      networkHash: this.networkHash,
      role: this.config.role,
      timeoutMs: this.config.connection.handshakeTimeout,
      addresses: addresses.slice(0, MAX_CLAIMED_ADDRESSES),
      session: this.session,
      idle: this.config.connection.idleTimeout,
      protocols: this.registrar.announcedProtocols(),
    }
  }

  private async listen(): Promise<void> {
    if (this.config.role === 'client') return // clients accept no inbound connections
    const explicit = this.config.listen
    // An address no transport serves would be dropped and leave the node unreachable there.
    const unserved = explicit?.find((address) => !this.transports.some((t) => t.id === parseAddress(address)?.transport))
    if (unserved !== undefined) {
      const configured = this.transports.map((t) => t.id).join(', ') || 'none'
      throw new ConfigError(`listen: no configured transport serves ${unserved} (configured transports: ${configured})`)
    }
    for (const transport of this.transports) {
      const addresses = explicit
        ? explicit.filter((address) => parseAddress(address)?.transport === transport.id)
        : transport.defaultListenAddresses
      let bound = 0
      let lastError: ListenError | undefined
      for (const address of addresses) {
        try {
          await transport.listen(address)
          bound++
        } catch (error) {
          lastError = listenError(transport.id, address, error)
          this.logger.warn(lastError.message)
        }
      }
      if (addresses.length > 0 && bound === 0 && lastError !== undefined) throw lastError
    }
  }
}

/** System errors of a failed bind, in words. */
const BIND_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'is already in use',
  EACCES: 'needs privileges this process lacks',
  EADDRNOTAVAIL: 'is on an address this machine does not have',
}

/**
 * Why `transport` could not listen on `address`, naming both; a port in use
 * is said plainly even when the transport's library only says it could not
 * bind (the system error is then in its `cause` chain).
 */
function listenError(transport: string, address: string, error: unknown): ListenError {
  const system = systemErrorIn(error)
  const port = parseAddress(address)?.port
  const why =
    system !== undefined && BIND_FAILURES[system] !== undefined && port !== undefined
      ? `port ${port} ${BIND_FAILURES[system]} (${system})`
      : asError(error).message
  return new ListenError(transport, address, `the ${transport} transport cannot listen on ${address}: ${why}`, { cause: error })
}

/** The first `E...` system error code in `error`'s cause chain (a few levels deep). */
function systemErrorIn(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code
    current = current.cause
  }
  return undefined
}
