/**
 * Runs one Crust node inside a lab namespace, driven by JSON lines on stdin
 * (see host-protocol.ts); replies and events go to stdout as JSON lines.
 * Started by `LabHost.start`, never by hand.
 */
import { createInterface } from 'node:readline'
import {
  type Connection,
  type CrustNode,
  type DiscoveryFactory,
  type ServiceFactory,
  type TransportFactory,
  type TraversalStatus,
  createNode,
} from '@crust/core'
import { tcp } from '@crust/transport-tcp'
import type { EventLine, LabDiscovery, LabService, LabTransport, Reply, Request, StartParams } from './host-protocol.js'
import { Flow, type FlowOptions, RequestCounter, type TrafficPeer, featuresOf, parseFlow, peerApi, requestBatch } from './traffic.js'

let node: CrustNode | undefined
let flow: Flow | undefined
const handled = new RequestCounter()
/** A number per connection object, so a test can tell a fresh connection from the old one. */
const connectionIds = new WeakMap<Connection, number>()
let lastConnectionId = 0
function connectionId(connection: Connection): number {
  const known = connectionIds.get(connection)
  if (known !== undefined) return known
  connectionIds.set(connection, ++lastConnectionId)
  return lastConnectionId
}

/** Peer-level events of issue 13, forwarded when the node emits them. */
const PEER_EVENTS = ['peer:connected', 'peer:disconnected', 'peer:reconnected'] as const

/** JSON-safe copy of an event payload (errors become their code or message; connections their summary). */
function plain(payload: unknown): unknown {
  return JSON.parse(
    JSON.stringify(payload, (_key, value: unknown) => {
      if (value instanceof Error) return (value as { code?: string }).code ?? value.message
      if (value && typeof value === 'object' && 'transportConnection' in value) return undefined
      return value
    }),
  )
}
/** `@crust/nat`'s `natStatus`, once a service loaded the package: lab replies and events carry its NatStatus. */
let readNat: (status: TraversalStatus) => unknown = (status) => status

function write(line: Reply | EventLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

async function transportOf(spec: LabTransport): Promise<TransportFactory> {
  if (spec.kind === 'tcp') return tcp(spec.options)
  // Loaded only when asked for, so the lab works without the QUIC package built.
  const specifier = '@crust/transport-quic'
  const { quic } = (await import(specifier)) as { quic: (options?: unknown) => TransportFactory }
  return quic(spec.options)
}

async function discoveryOf(spec: LabDiscovery): Promise<DiscoveryFactory> {
  // Loaded only when asked for, like QUIC above.
  const specifier = '@crust/discovery-beacon'
  const { beacon } = (await import(specifier)) as { beacon: (options?: unknown) => DiscoveryFactory }
  return beacon(spec.options)
}

async function serviceOf(spec: LabService): Promise<ServiceFactory> {
  const specifier = spec.from ?? '@crust/nat'
  const plugins = (await import(specifier)) as Record<string, unknown>
  if (typeof plugins.natStatus === 'function') readNat = plugins.natStatus as (status: TraversalStatus) => unknown
  const factory = plugins[spec.kind]
  if (typeof factory !== 'function') throw new Error(`${specifier} exports no service named ${spec.kind}`)
  return (factory as (options?: unknown) => ServiceFactory)(spec.options)
}

function running(): CrustNode {
  if (!node) throw new Error('node not started')
  return node
}

/** Create the node (plugins loaded, events wired) without starting it. */
async function create(params: StartParams): Promise<{ peerId: string }> {
  const transports = await Promise.all(params.transports.map(transportOf))
  const discovery = await Promise.all((params.discovery ?? []).map(discoveryOf))
  const services = await Promise.all((params.services ?? []).map(serviceOf))
  node = await createNode({
    networkName: 'lab',
    // CRUST_LAB_LOG=debug|info|warn: the nodes' logs, for diagnosing a scenario (LabHost.log).
    logLevel: (process.env.CRUST_LAB_LOG as 'debug' | 'info' | 'warn' | undefined) ?? 'error',
    bootstrap: { cache: false }, // lab hosts share the machine's file system
    ...params.config,
    transports,
    discovery,
    services,
  })
  node.handle((message) => {
    if (!message.isRequest) return undefined
    const data = Buffer.from(message.data).toString()
    handled.request(data)
    return Buffer.from(`echo:${data}`)
  })
  node.on('message', (m) => {
    const data = Buffer.from(m.data).toString()
    // A flow message becomes a compact `flow` event ([seq, sentAt, arrivedAt]): stdout to a pipe is
    // synchronous on Linux, so what arrived is on record even when the node is SIGKILLed right after.
    const flowMessage = parseFlow(data)
    if (flowMessage) write({ event: 'flow', payload: [...flowMessage, Date.now()] })
    else write({ event: 'message', payload: { peerId: m.peerId, data } })
  })
  node.on('connection:close', ({ peerId, code, reason, remote, connection }) =>
    write({ event: 'connection:close', payload: { peerId, code, reason, remote, method: connection.method, at: Date.now() } }),
  )
  for (const name of PEER_EVENTS) node.on(name, (payload) => write({ event: name, payload: { ...(plain(payload) as object), at: Date.now() } }))
  node.on('connection:fallback', ({ peerId, from, to, reason }) => write({ event: 'connection:fallback', payload: { peerId, from, to, reason } }))
  node.on('peer:discovered', ({ peerId, addresses, via }) => write({ event: 'peer:discovered', payload: { peerId, addresses, via, at: Date.now() } }))
  node.on('connection:open', ({ connection }) =>
    write({
      event: 'connection:open',
      payload: { peerId: connection.peerId, transport: connection.transport, method: connection.method, direction: connection.direction, at: Date.now() },
    }),
  )
  node.on('nat:change', ({ status }) => write({ event: 'nat:change', payload: { ...(readNat(status) as object), at: Date.now() } }))
  node.on('service:event', (event) => write({ event: 'service:event', payload: event }))
  return { peerId: node.peerId }
}

/** Start the node made by `create`; resolves with its addresses and when `start()` was called (`Date.now()`). */
async function begin(): Promise<{ peerId: string; addresses: string[]; startedAt: number }> {
  const startedAt = Date.now()
  await running().start()
  return { peerId: running().peerId, addresses: running().addresses, startedAt }
}

const methods: Record<string, (params: never) => Promise<unknown>> = {
  /** Create the node and start it; resolves with its peer id, addresses and when `start()` was called (`Date.now()`). */
  async start(params: StartParams) {
    await create(params)
    return begin()
  },
  /** Create the node (plugins loaded, events wired) without starting it: `begin` then starts it at once. */
  create,
  /** Start the node made by `create`. */
  begin,
  /** Peers this node is connected to now, with each connection's method. */
  async peers() {
    return running().connections.map((connection) => ({ peerId: connection.peerId, method: connection.method, transport: connection.transport }))
  },
  async connect(params: { peer: { peerId?: string; addresses: string[] }; transport?: string }) {
    const startedAt = performance.now()
    const connection = await running().connect(params.peer, { transport: params.transport, retry: false })
    return {
      peerId: connection.peerId,
      transport: connection.transport,
      fallback: connection.fallback,
      remoteAddress: connection.remoteAddress,
      method: connection.method,
      id: connectionId(connection),
      ms: performance.now() - startedAt,
    }
  },
  async connection(params: { peerId: string }) {
    const connection = running().getConnection(params.peerId)
    if (!connection) return null
    return {
      transport: connection.transport,
      method: connection.method,
      remoteAddress: connection.remoteAddress,
      direction: connection.direction,
      id: connectionId(connection),
    }
  },
  /** Which parts of the peer-addressed API of issue 13 this node has. */
  async features() {
    return featuresOf(running())
  },
  /** `node.keep(peer)`: keep the peer connected, re-dialling it at its addresses (fails when the node has no `keep`). */
  async keep(params: { peer: TrafficPeer }) {
    const api = peerApi(running())
    if (!api.keep) throw new Error('node.keep is not available')
    await api.keep({ peerId: params.peer.peerId, addresses: [...params.peer.addresses] })
    return true
  },
  /** Close this node's connection to a peer (the peer sees a remote close). */
  async close(params: { peerId: string }) {
    const connection = running().getConnection(params.peerId)
    if (!connection) return false
    await connection.close()
    return true
  },
  async startFlow(params: FlowOptions) {
    if (flow) throw new Error('a flow is already running')
    flow = new Flow(running(), params)
    return { usesNodeSend: flow.usesNodeSend }
  },
  async stopFlow(params: { settleMs: number }) {
    if (!flow) throw new Error('no flow running')
    const current = flow
    flow = undefined
    return { usesNodeSend: current.usesNodeSend, sends: await current.stop(params.settleMs) }
  },
  async requestBatch(params: { peer: TrafficPeer; count: number; concurrency: number; timeoutMs: number }) {
    return requestBatch(running(), params.peer, params)
  },
  /** Batch requests handled since the last call: distinct and duplicated. */
  async handled() {
    return handled.take()
  },
  async nat() {
    return readNat(running().nat)
  },
  async addresses() {
    return running().addresses
  },
  async ping(params: { peerId: string }) {
    const connection = running().getConnection(params.peerId)
    if (!connection) throw new Error(`no connection to ${params.peerId}`)
    return connection.ping()
  },
  async request(params: { peerId: string; data: string }) {
    const connection = running().getConnection(params.peerId)
    if (!connection) throw new Error(`no connection to ${params.peerId}`)
    return Buffer.from(await connection.request(Buffer.from(params.data))).toString()
  },
  async send(params: { peerId: string; data: string }) {
    const connection = running().getConnection(params.peerId)
    if (!connection) throw new Error(`no connection to ${params.peerId}`)
    await connection.send(Buffer.from(params.data))
    return true
  },
  /** Stop the node; resolves with how long `node.stop()` took (ms). */
  async stop() {
    const startedAt = performance.now()
    await node?.stop()
    return performance.now() - startedAt
  },
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line) as Request
  const method = methods[request.method]
  if (!method) {
    write({ id: request.id, error: { name: 'Error', message: `unknown method ${request.method}` } })
    return
  }
  method(request.params as never).then(
    (result) => write({ id: request.id, result }),
    (error: Error & { code?: string }) => write({ id: request.id, error: { name: error.name, code: error.code, message: error.message } }),
  )
})
process.stdin.on('end', () => {
  void node?.stop().finally(() => process.exit(0))
})
