import {
  type CrustNode,
  type GateDecision,
  type Logger,
  type NodeConfigInput,
  type SecurityContext,
  type SocketAddress,
  type TransportConnection,
  type TransportLimits,
  createLogger,
} from '@crust/core'
import { createIdentity, createSecurityContext } from '@crust/core/plugin'
import { createTestNode, stopTestNodes, waitFor } from '@crust/core/testing'
import { afterEach, expect } from 'vitest'
import { type QuicOptions, quic } from '../src/index.js'
import { QuicTransport } from '../src/quic-transport.js'

/** Every unhandled rejection during a test fails it (the library's defects surface as these). */
const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason)
})

const transports: QuicTransport[] = []

export const testLimits: TransportLimits = {
  idleTimeout: 30_000,
  keepAliveInterval: 10_000,
  handshakeTimeout: 5_000,
  maxInboundStreams: 256,
}

/** A transport made the way the core makes it, plus what it reported. */
export interface TestTransport {
  readonly transport: QuicTransport
  readonly security: SecurityContext
  readonly inbound: TransportConnection[]
  readonly failures: Array<{ address: string; error: Error }>
  readonly admitted: SocketAddress[]
  released: number
  /** The bound listening address on loopback. */
  address(): string
}

export interface TestTransportOptions {
  readonly security?: SecurityContext
  readonly mode?: SecurityContext['mode']
  readonly limits?: Partial<TransportLimits>
  readonly options?: QuicOptions
  readonly gate?: (remote: SocketAddress) => GateDecision
  /** Listen on this address (default quic://127.0.0.1:0); false for dial-only. */
  readonly listen?: string | false
  /** The transport's logger (default: errors only, to stderr). */
  readonly logger?: Logger
}

export async function newSecurity(mode: SecurityContext['mode'] = 'peer-id'): Promise<SecurityContext> {
  const { identity } = await createIdentity({})
  return createSecurityContext(identity, { mode })
}

/** A QUIC transport with real components (security, gate, callbacks), closed after the test. */
export async function makeTransport(opts: TestTransportOptions = {}): Promise<TestTransport> {
  const security = opts.security ?? (await newSecurity(opts.mode))
  const result: TestTransport = {
    transport: undefined as unknown as QuicTransport,
    security,
    inbound: [],
    failures: [],
    admitted: [],
    released: 0,
    address: () => {
      const endpoint = result.transport.localEndpoint
      if (!endpoint) throw new Error('not listening')
      return `quic://127.0.0.1:${endpoint.port}`
    },
  }
  const transport = new QuicTransport(
    {
      security,
      limits: { ...testLimits, ...opts.limits },
      logger: opts.logger ?? createLogger('error'),
      gate: {
        admitInbound: (remote) => {
          result.admitted.push(remote)
          const decision = opts.gate?.(remote) ?? { allow: true }
          return decision.allow ? { allow: true, release: () => result.released++ } : decision
        },
      },
      onInboundConnection: (connection) => result.inbound.push(connection),
      onInboundFailure: (address, error) => result.failures.push({ address, error }),
    },
    opts.options,
  )
  ;(result as { transport: QuicTransport }).transport = transport
  transports.push(transport)
  if (opts.listen !== false) await transport.listen(opts.listen ?? 'quic://127.0.0.1:0')
  return result
}

/** Start a node on loopback with the QUIC transport; stopped automatically after each test. */
export function startNode(overrides: Partial<NodeConfigInput> = {}, options: QuicOptions = {}): Promise<CrustNode> {
  return createTestNode([quic({ host: '127.0.0.1', ...options })], overrides)
}

afterEach(async () => {
  await stopTestNodes()
  await Promise.allSettled(transports.splice(0).map((transport) => transport.close()))
  const seen = unhandled.splice(0)
  expect(seen, `unhandled rejections: ${seen.map(String).join('; ')}`).toEqual([])
})

/** The `@matrixai/quic` connection under a transport connection (for tests of the library's behaviour). */
export function libraryConnectionOf(connection: TransportConnection): import('@crust/quic-lib').QUICConnection {
  return (connection as unknown as { quic: import('@crust/quic-lib').QUICConnection }).quic
}

/** A connected transport pair on loopback. */
export async function connectedPair(options: TestTransportOptions = {}, clientOptions: TestTransportOptions = {}) {
  const server = await makeTransport(options)
  const client = await makeTransport({ ...options, ...clientOptions, listen: false })
  const conn = await client.transport.dial(server.address(), { expectedPeerId: server.security.peerId })
  await waitFor(() => server.inbound.length === 1, 5000, 'inbound connection')
  return { server, client, conn, inbound: server.inbound[0]! }
}

export { contactOf, readAll, sha256, sleep, waitFor } from '@crust/core/testing'
