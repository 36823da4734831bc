/**
 * NAT traversal orchestration: the connectors services offer (hole punching,
 * relaying), tried in priority order for a peer that direct dials cannot
 * reach.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import { Connection } from '../connection/connection.js'
import { Tokens } from '../di/tokens.js'
import { AbortError, DialError, NotStartedError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Connector, ServiceConnection } from '../service/types.js'
import { asError } from '../error-text.js'
import type { ConnectionPool } from './pool.js'
import type { RunState } from './run-state.js'

/** One failed attempt: where (an address, or `via <connector>`) and why. */
export interface DialFailure {
  readonly address: string
  readonly error: Error
}

/** The services' connectors and the order they are tried in. */
@injectable()
export class Traversal {
  /** Ways to reach peers that direct dials cannot, lowest priority first. */
  private connectors: Array<{ readonly id: string; readonly connector: Connector }> = []

  constructor(
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Pool) private readonly pool: ConnectionPool,
    @inject(Tokens.RunState) private readonly state: RunState,
  ) {}

  /** True when some service can reach peers that direct dials cannot. */
  get available(): boolean {
    return this.connectors.length > 0
  }

  /** Register a way to reach peers that direct dials cannot (tried in priority order). */
  addConnector(id: string, connector: Connector): void {
    this.connectors = [...this.connectors, { id, connector }].sort((a, b) => a.connector.priority - b.connector.priority)
  }

  /** Forget every connector (the node stops its services). */
  clearConnectors(): void {
    this.connectors = []
  }

  /** For services: try the connectors below `belowPriority` (e.g. hole punching to upgrade a relayed connection). */
  async traverseBelow(peerId: string, belowPriority: number, signal: AbortSignal = new AbortController().signal): Promise<Connection> {
    if (!this.state.running) throw new NotStartedError()
    const failures: DialFailure[] = []
    try {
      // The pooled connection counts only when it is already better than relayed (another upgrade got there).
      const better = (connection: Connection): boolean => connection.method !== 'relayed'
      return await this.traverse(peerId, signal, failures, (connector) => connector.priority < belowPriority, better)
    } catch (error) {
      if (failures.length === 0) throw error
      throw new DialError(`could not reach ${peerId}: ${failures.map(describeFailure).join('; ')}`, failures)
    }
  }

  /**
   * Try each connector (that `accept`s) in priority order, stopping early
   * when the pool already holds a connection to the peer that `reuse`
   * accepts; failures are collected in `failures`.
   */
  async traverse(
    peerId: string,
    signal: AbortSignal,
    failures: DialFailure[],
    accept: (connector: Connector) => boolean = () => true,
    reuse: (pooled: Connection) => boolean = () => true,
  ): Promise<Connection> {
    for (const { id, connector } of this.connectors) {
      if (!accept(connector)) continue
      if (signal.aborted) throw new AbortError()
      const pooled = this.pool.get(peerId)
      if (pooled && reuse(pooled)) return pooled
      try {
        const connection = pooledFrom(await connector.connect(peerId, { signal }), this.pool)
        this.logger.info(`connected to ${peerId} via ${id} (${connection.method})`)
        return connection
      } catch (error) {
        failures.push({ address: `via ${id}`, error: asError(error) })
        this.logger.debug(`${id} could not reach ${peerId}: ${asError(error).message}`)
      }
    }
    throw new DialError(`no connector reached ${peerId}`)
  }
}

/**
 * The core connection behind what a connector returned: connectors see
 * connections through the `ServiceConnection` interface, and must return one
 * the core made and pooled (through the service components).
 */
function pooledFrom(connection: ServiceConnection, pool: ConnectionPool): Connection {
  if (connection instanceof Connection) return connection
  const pooled = pool.get(connection.peerId)
  if (pooled === undefined) throw new DialError(`a connector returned a connection to ${connection.peerId} the node did not pool`)
  return pooled
}

/** `address: reason`, without repeating the address when the reason already starts with it. */
export function describeFailure(failure: DialFailure): string {
  const { address, error } = failure
  return error.message.startsWith(address) ? error.message : `${address}: ${error.message}`
}
