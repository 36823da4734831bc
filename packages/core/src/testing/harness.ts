import assert from 'node:assert/strict'
import { createSelfSignedCertificate } from '../identity/certificate.js'
import { type NodeIdentity, createIdentity } from '../identity/identity.js'
import { createSecurityContext } from '../identity/security.js'
import type {
  DialOptions,
  Transport,
  TransportComponents,
  TransportConnection,
  TransportFactory,
  TransportLimits,
  TransportStream,
} from '../transport/types.js'
import { Collector } from './collector.js'
import { TestGate } from './gate.js'
import type { MemoryLog } from './log.js'
import { waitUntil, within } from './util.js'

/** An inbound attempt the transport reported through `onInboundFailure`. */
export interface InboundFailure {
  readonly remoteAddress: string
  readonly error: Error
}

/** One end of a test: a transport instance with the real components the suite built for it. */
export interface Side {
  readonly role: 'listener' | 'dialer'
  /** The limits this side's transport was given. */
  readonly limits: TransportLimits
  /** The peer id of this side's identity. */
  readonly peerId: string
  readonly transport: Transport
  readonly gate: TestGate
  /** Connections handed to `onInboundConnection`, in order. */
  readonly inbound: Collector<TransportConnection>
  /** Attempts reported to `onInboundFailure`, in order. */
  readonly failures: Collector<InboundFailure>
}

/** Both ends of one established connection. */
export interface ConnectedPair {
  /** The dialer's end. */
  readonly outbound: TransportConnection
  /** The listener's end. */
  readonly inbound: TransportConnection
}

/** A fresh identity whose self-signed certificate expired yesterday. */
async function expiredIdentity(): Promise<NodeIdentity> {
  const { identity } = await createIdentity()
  const day = 24 * 3_600_000
  const certificatePem = await createSelfSignedCertificate(identity.privateKey, {
    notBefore: new Date(Date.now() - 2 * day),
    notAfter: new Date(Date.now() - day),
  })
  return { ...identity, certificatePem }
}

async function createSide(
  role: Side['role'],
  factory: TransportFactory,
  limits: TransportLimits,
  log: MemoryLog,
  given?: NodeIdentity,
): Promise<Side> {
  const identity = given ?? (await createIdentity()).identity
  const security = createSecurityContext(identity, { mode: 'peer-id' })
  const gate = new TestGate()
  const inbound = new Collector<TransportConnection>()
  const failures = new Collector<InboundFailure>()
  const components: TransportComponents = {
    security,
    gate,
    limits,
    logger: log.logger(role),
    onInboundConnection: (connection) => inbound.push(connection),
    onInboundFailure: (remoteAddress, error) => failures.push({ remoteAddress, error }),
  }
  const transport = factory(components)
  return { role, limits, peerId: identity.peerId, transport, gate, inbound, failures }
}

/**
 * Two instances of the transport under test, a listener and a dialer, each
 * with its own identity, security context (auth mode `peer-id`), gate and
 * collectors, plus a third identity nobody uses (for peer id mismatches).
 */
export class Harness {
  private readonly outbound: TransportConnection[] = []
  private readonly extras: Side[] = []
  private listening: string[] | undefined

  private constructor(
    readonly listener: Side,
    readonly dialer: Side,
    /** The peer id of an identity neither side has. */
    readonly strangerPeerId: string,
    /** The address the listener listens on (from the suite's setup). */
    readonly listenAddress: string,
    private readonly factory: TransportFactory,
    private readonly log: MemoryLog,
    /** How long to wait for something that should happen promptly (ms): the suite's `eventTimeout`. */
    readonly eventTimeout: number,
  ) {}

  /**
   * Another dialer, whose certificate expired yesterday: the `peer-id` auth
   * mode must refuse it. Closed with the others at the end of the test.
   */
  async impostor(): Promise<Side> {
    const side = await createSide('dialer', this.factory, this.dialer.limits, this.log, await expiredIdentity())
    this.extras.push(side)
    return side
  }

  /** Build both sides from the transport's factory, each with its own limits. */
  static async create(
    factory: TransportFactory,
    listenAddress: string,
    limits: { readonly listener: TransportLimits; readonly dialer: TransportLimits },
    log: MemoryLog,
    eventTimeout: number,
  ): Promise<Harness> {
    const [listener, dialer, stranger] = await Promise.all([
      createSide('listener', factory, limits.listener, log),
      createSide('dialer', factory, limits.dialer, log),
      createIdentity(),
    ])
    return new Harness(listener, dialer, stranger.identity.peerId, listenAddress, factory, log, eventTimeout)
  }

  /** Make the listener listen (once) and return its `addresses()`. */
  async listen(): Promise<string[]> {
    if (this.listening === undefined) {
      await within(this.listener.transport.listen(this.listenAddress), this.eventTimeout, `listen(${this.listenAddress})`)
      const addresses = this.listener.transport.addresses()
      assert.ok(addresses.length > 0, `addresses() is empty after listen(${this.listenAddress})`)
      this.listening = addresses
    }
    return this.listening
  }

  /** The first address the listener reported. */
  get address(): string {
    const address = this.listening?.[0]
    assert.ok(address !== undefined, 'listen() first')
    return address
  }

  /** Dial the listener (at `address`, default its first), expecting its peer id unless `options` says otherwise. */
  async dial(options: DialOptions = { expectedPeerId: this.listener.peerId }, address = this.address): Promise<TransportConnection> {
    const connection = await this.dialer.transport.dial(address, options)
    this.outbound.push(connection)
    return connection
  }

  /** Listen, dial, and wait for the listener's end of the connection. */
  async connect(): Promise<ConnectedPair> {
    await this.listen()
    const outbound = await within(this.dial(), this.eventTimeout * 2, `dial(${this.address})`)
    const inbound = await this.listener.inbound.next(this.eventTimeout, 'the listener to receive the connection (onInboundConnection)')
    return { outbound, inbound }
  }

  /**
   * Close both transports. With `check`, also assert what must hold after
   * any test: `close()` settles, every connection either side saw settles its
   * `closed`, and each gate released every admitted attempt exactly once.
   */
  async dispose(check: boolean): Promise<void> {
    const closing = Promise.all([this.dialer, this.listener, ...this.extras].map((side) => side.transport.close()))
    if (!check) {
      await within(closing, this.eventTimeout * 2, 'close()').catch(() => {})
      return
    }
    await within(closing, this.eventTimeout * 2, 'Transport.close() of both transports')
    const connections = [...this.outbound, ...this.listener.inbound.items, ...this.dialer.inbound.items]
    await within(
      Promise.all(connections.map((c) => c.closed)),
      this.eventTimeout,
      `every connection's closed to settle after both transports closed (${connections.length} connections)`,
    )
    for (const side of [this.listener, this.dialer, ...this.extras]) {
      const { gate } = side
      await waitUntil(
        () => gate.outstanding === 0,
        this.eventTimeout,
        `the ${side.role}'s gate to be released for every admitted attempt (admitted ${gate.admitted}, released ${gate.released})`,
      )
      assert.equal(gate.extraReleases, 0, `the ${side.role}'s transport called a gate release more than once`)
    }
  }
}

/** Collect the streams the remote opens on `connection` (registers its `onStream` handler). */
export function acceptStreams(connection: TransportConnection): Collector<TransportStream> {
  const streams = new Collector<TransportStream>()
  connection.onStream((stream) => streams.push(stream))
  return streams
}
