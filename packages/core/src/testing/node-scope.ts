import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeConfigInput } from '../config/schema.js'
import { type CertificateAuthority, createCertificateAuthority, writeNodeCertificateFiles } from '../identity/ca.js'
import { createIdentity } from '../identity/identity.js'
import { createSecurityContext } from '../identity/security.js'
import type { CrustNode } from '../node.js'
import type { Transport, TransportFactory, TransportLimits } from '../transport/types.js'
import { TestGate } from './gate.js'
import type { MemoryLog } from './log.js'
import { createTestNode, stopTestNodes } from './nodes.js'
import { within } from './util.js'

/** Limits of a bare transport instance (the node defaults). */
const BARE_LIMITS: TransportLimits = {
  idleTimeout: 30_000,
  keepAliveInterval: 10_000,
  handshakeTimeout: 10_000,
  maxInboundStreams: 256,
}

/** What a `ca`-mode case needs: the trusted CA and another one nobody trusts. */
export interface CaMaterial {
  readonly trusted: CertificateAuthority
  readonly rogue: CertificateAuthority
}

/**
 * What one node-level case works with: nodes made from the transports under
 * test (stopped at the end), CA material and files, and bare transport
 * instances that speak TLS but not the Crust protocol. Everything it made is
 * released by {@link NodeScope.dispose}.
 */
export class NodeScope {
  private readonly nodes: CrustNode[] = []
  private readonly bare: Transport[] = []
  private dir: string | undefined
  private caMaterial: Promise<CaMaterial> | undefined
  private certificates = 0

  constructor(
    private readonly transports: () => TransportFactory[],
    private readonly log: MemoryLog,
    /** How long to wait for something that should happen promptly (ms). */
    readonly eventTimeout: number,
  ) {}

  /** A started node on the transports under test, with `overrides` on top of {@link createTestNode}'s defaults. */
  async node(overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
    const node = await createTestNode(this.transports(), overrides)
    this.nodes.push(node)
    return node
  }

  /** A started node that answers every request with `fine`. */
  async server(overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
    const node = await this.node(overrides)
    node.handle((message) => (message.isRequest ? Buffer.from('fine') : undefined))
    return node
  }

  /** A trusted CA and a rogue one, made once per case. */
  ca(): Promise<CaMaterial> {
    this.caMaterial ??= Promise.all([
      createCertificateAuthority({ name: 'Crust Test CA' }),
      createCertificateAuthority({ name: 'Rogue Test CA' }),
    ]).then(([trusted, rogue]) => ({ trusted, rogue }))
    return this.caMaterial
  }

  /**
   * Node config for auth mode `ca`, trusting `trusted`, with a fresh key and a
   * certificate issued by `issuer` written to files, as an operator would.
   */
  async caAuth(issuer: CertificateAuthority, trusted: CertificateAuthority): Promise<Partial<NodeConfigInput>> {
    this.dir ??= await mkdtemp(join(tmpdir(), 'crust-node-suite-'))
    const files = await writeNodeCertificateFiles(issuer, { dir: this.dir, name: `node-${++this.certificates}` })
    return { auth: { mode: 'ca', ca: [trusted.certificatePem], ...files } }
  }

  /**
   * A bare instance of the first transport under test (fresh identity, auth
   * `peer-id`, a gate that admits everything, not listening): it completes
   * TLS with a node and then says whatever the case wants.
   */
  async bareTransport(): Promise<Transport> {
    const factory = this.transports()[0]
    assert.ok(factory !== undefined, 'transports() returned no transport')
    const { identity } = await createIdentity()
    const transport = factory({
      security: createSecurityContext(identity, { mode: 'peer-id' }),
      gate: new TestGate(),
      limits: BARE_LIMITS,
      logger: this.log.logger('bare'),
      onInboundConnection: (connection) => void connection.close(),
      onInboundFailure: () => {},
    })
    this.bare.push(transport)
    return transport
  }

  /**
   * Stop every node (one at a time, newest first: two WebSocket nodes
   * stopping at once can each wait out the muxer's 2 s close timeout),
   * close every bare transport and remove the certificate files.
   */
  async dispose(): Promise<void> {
    for (const node of this.nodes.splice(0).reverse()) await stopTestNodes([node])
    await Promise.allSettled(this.bare.splice(0).map((transport) => within(transport.close(), this.eventTimeout, 'close()')))
    if (this.dir !== undefined) await rm(this.dir, { recursive: true, force: true })
  }
}
