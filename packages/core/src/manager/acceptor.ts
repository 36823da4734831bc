/**
 * Inbound connections: the Crust handshake of a TLS-authenticated
 * connection a transport (or a service) accepted, the reachability check of a
 * peer that claims the node role (dial-backs, budgeted), then pooling.
 *
 * @packageDocumentation
 */
import { inject, injectable } from 'tsyringe'
import type { NodeConfig } from '../config/schema.js'
import type { Connection } from '../connection/connection.js'
import { type HandshakeInfo, dialerHandshake, listenerHandshake } from '../connection/handshake.js'
import { StreamResetCode } from '../connection/stream-codes.js'
import { Tokens } from '../di/tokens.js'
import { BlacklistedError, NotStartedError, UnsupportedAddressError } from '../errors.js'
import type { TypedEmitter } from '../events/emitter.js'
import type { NodeEvents } from '../events/node-events.js'
import type { Logger } from '../logger.js'
import { normalizeIp, parseAddress } from '../transport/address.js'
import { CloseCode, type ConnectionMethod, type TransportConnection, type TransportStream } from '../transport/types.js'
import type { Admission } from './admission.js'
import { asError } from '../error-text.js'
import type { Blacklist } from './blacklist.js'
import type { Establisher } from './establisher.js'
import type { PeerReports } from './peer-reports.js'
import { ReachabilityChecker } from './reachability.js'
import type { RunState } from './run-state.js'
import type { TransportHost } from './transport-host.js'

/** Nothing may precede the end of the handshake on an inbound connection. */
const refuseEarly = (early: TransportStream): void => early.reset(StreamResetCode.PROTOCOL_ERROR)

/**
 * An inbound connection's stream routing: the first stream goes to the
 * handshake (`firstStream`), any other is refused until `setRoute` hands
 * over the connection's server. Made here, not inside `acceptInbound`: the
 * handler the transport keeps for the connection's life would otherwise
 * keep that call's whole frame (the HELLO, its stream, the handshake's
 * closures, ~0.6 KB per idle connection).
 */
function inboundStreamRouter(): {
  firstStream: Promise<TransportStream>
  onStream: (stream: TransportStream) => void
  setRoute: (serve: (stream: TransportStream) => void) => void
} {
  let deliverFirst: ((stream: TransportStream) => void) | undefined
  const firstStream = new Promise<TransportStream>((resolve) => {
    deliverFirst = resolve
  })
  let route = (stream: TransportStream): void => {
    route = refuseEarly
    const deliver = deliverFirst
    deliverFirst = undefined // the resolver keeps its promise, and so the stream
    deliver?.(stream)
  }
  return {
    firstStream,
    onStream: (stream) => route(stream),
    setRoute: (serve) => {
      route = serve
    },
  }
}

/** Accepts inbound connections and checks what peers claim about reachability. */
@injectable()
export class Acceptor {
  private readonly reachability: ReachabilityChecker

  constructor(
    @inject(Tokens.Config) private readonly config: NodeConfig,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Events) private readonly events: TypedEmitter<NodeEvents>,
    @inject(Tokens.Blacklist) private readonly blacklist: Blacklist,
    @inject(Tokens.RunState) private readonly state: RunState,
    @inject(Tokens.Admission) private readonly admission: Admission,
    @inject(Tokens.TransportHost) private readonly transports: TransportHost,
    @inject(Tokens.Establisher) private readonly establisher: Establisher,
    @inject(Tokens.PeerReports) private readonly reports: PeerReports,
  ) {
    this.reachability = new ReachabilityChecker((address, peerId, signal) => this.probe(address, peerId, signal), config.reachability)
  }

  /** An inbound, TLS-authenticated connection (from a transport or a service): handshake, then pool it. */
  async acceptInbound(connection: TransportConnection): Promise<void> {
    this.admission.track(connection)
    const peerId = connection.remotePeer.peerId
    if (!this.state.running || this.blacklist.blocksPeer(peerId)) {
      const error = this.state.running ? new BlacklistedError(`peer ${peerId} is blacklisted`) : new NotStartedError()
      await connection.close({ code: this.state.running ? CloseCode.BLACKLISTED : CloseCode.SHUTDOWN, reason: error.message })
      this.reports.rejected('inbound', connection.remoteAddress, error, peerId)
      return
    }
    const { firstStream, onStream, setRoute } = inboundStreamRouter()
    connection.onStream(onStream)
    let hello: HandshakeInfo
    const mode = this.config.reachability.check
    const observedIp = parseAddress(connection.remoteAddress)?.host ?? ''
    const describe = (claim: HandshakeInfo): ConnectionMethod => connection.method ?? this.describeInbound(claim)
    try {
      hello = await listenerHandshake(connection, firstStream, { ...this.transports.handshakeOptions(), describe }, async (claim) => {
        if (mode !== 'refuse' || !this.mustCheck(claim)) return { accept: true }
        try {
          await this.reachability.check(peerId, claim.addresses ?? [], observedIp)
          return { accept: true }
        } catch (error) {
          return { accept: false, code: CloseCode.UNREACHABLE, error: asError(error) }
        }
      })
    } catch (error) {
      void connection.close({ code: CloseCode.PROTOCOL_ERROR, reason: asError(error).message })
      this.reports.rejected('inbound', connection.remoteAddress, asError(error), peerId)
      return
    }
    if (hello.probe) {
      // A reachability probe only wanted our WELCOME: it closes; make sure it does.
      this.admission.pending.delete(connection)
      const timer = setTimeout(() => void connection.close({ code: CloseCode.NORMAL, reason: 'probe answered' }), 5_000)
      void connection.closed.then(() => clearTimeout(timer))
      return
    }
    let established: Connection
    try {
      established = this.establisher.establish(
        connection,
        hello,
        setRoute,
        describe(hello),
      )
    } catch (error) {
      this.reports.rejected('inbound', connection.remoteAddress, asError(error), peerId)
      return
    }
    if (established.transportConnection !== connection || !this.mustCheck(hello)) return
    if (mode === 'refuse') {
      this.events.emit('peer:verified', { peerId, reachable: true, addresses: hello.addresses ?? [] })
      return
    }
    // demote: a client until the dial-back succeeds.
    established.setPath({ remoteRole: 'client' })
    this.reachability.check(peerId, hello.addresses ?? [], observedIp).then(
      () => {
        established.setPath({ remoteRole: 'node' })
        this.events.emit('peer:verified', { peerId, reachable: true, addresses: hello.addresses ?? [] })
      },
      (error: unknown) => {
        this.logger.info(`peer ${peerId} treated as a client: ${asError(error).message}`)
        this.events.emit('peer:verified', { peerId, reachable: false, addresses: hello.addresses ?? [], error: asError(error) })
      },
    )
  }

  /** How an inbound connection was made, from what the dialer said in its HELLO. */
  private describeInbound(hello: HandshakeInfo): ConnectionMethod {
    if (hello.via !== undefined) return hello.via
    if (hello.target === undefined) return 'direct'
    return this.transports.methodOf(hello.target)
  }

  /** Whether a peer's claim to be a node must be checked by dialling back. */
  private mustCheck(claim: HandshakeInfo): boolean {
    return claim.role === 'node' && !claim.probe && this.config.reachability.check !== 'off'
  }

  /**
   * Dial `address` on a fresh connection that is never pooled, check it is
   * `peerId`, exchange a probe handshake, and close.
   */
  private async probe(address: string, peerId: string, signal: AbortSignal): Promise<void> {
    const transport = this.transports.transportFor(address)
    if (transport === undefined) throw new UnsupportedAddressError(address)
    if (this.blacklist.blocksIp(normalizeIp(parseAddress(address)?.host ?? ''))) throw new BlacklistedError(`${address} is blacklisted`)
    const connection = await transport.dial(address, { signal, expectedPeerId: peerId })
    const onAbort = (): void => void connection.close({ code: CloseCode.NORMAL, reason: 'probe cancelled' })
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await dialerHandshake(connection, { ...this.transports.handshakeOptions(), probe: true })
    } finally {
      signal.removeEventListener('abort', onAbort)
      await connection.close({ code: CloseCode.NORMAL, reason: 'reachability probe done' })
    }
  }

  /** Check whether `peerId` answers at one of `addresses` (a fresh connection, never pooled); resolves with that address. */
  checkReachable(peerId: string, addresses: readonly string[]): Promise<string> {
    return this.reachability.check(peerId, addresses)
  }

  /** The address a dial-back check recently verified `peerId` at, if any (for the bootstrap cache). */
  verifiedAddress(peerId: string): string | undefined {
    return this.reachability.verifiedAddress(peerId)
  }
}
