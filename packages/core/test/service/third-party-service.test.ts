import { afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import type { Connection } from '../../src/connection/connection.js'
import type { ProtocolStream } from '../../src/connection/protocol-stream.js'
import { ConfigError } from '../../src/errors.js'
import { type CrustNode, createNode } from '../../src/node.js'
// The plugin below is written against these contract types only: no core class.
import type {
  Service,
  ServiceComponents,
  ServiceConnection,
  ServiceFactory,
  ServiceStream,
  TraversalReport,
} from '../../src/service/types.js'

/** What a third-party PCP (RFC 6887) service reports: its own method and its own states. */
type PcpState = 'probing' | 'mapped' | 'refused'

/** A fake PCP port-mapping service: reports under its own kind, publishes `pcp` addresses, serves a protocol, offers a connector. */
function pcp(external: string): { factory: ServiceFactory; report(state: PcpState): void; components(): ServiceComponents } {
  let given: ServiceComponents | undefined
  const components = (): ServiceComponents => {
    if (given === undefined) throw new Error('pcp not started')
    return given
  }
  const report = (state: PcpState): void => {
    const report: TraversalReport = { kind: 'pcp', state, addresses: state === 'mapped' ? [external] : [], details: { lifetime: 7200 } }
    components().reportTraversal(report)
    components().advertise(state === 'mapped' ? [{ address: external, method: 'pcp' }] : [])
  }
  const factory: ServiceFactory = (c) => {
    given = c
    const cleanups: Array<() => void> = []
    const service: Service = {
      id: 'pcp',
      connector: {
        priority: 15,
        // A connector hands back what the components gave it; here, the pooled connection if any.
        connect: async (peerId): Promise<ServiceConnection> => {
          const pooled = c.connection(peerId)
          if (pooled === undefined) throw new Error('pcp cannot reach it')
          return pooled
        },
      },
      start: async () => {
        cleanups.push(c.handleProtocol('/pcp-test/1', (stream: ServiceStream, connection: ServiceConnection) => void echo(stream, connection)))
        report('probing')
      },
      stop: async () => {
        for (const cleanup of cleanups.splice(0)) cleanup()
      },
    }
    return service
  }
  return { factory, report, components }
}

async function echo(stream: ServiceStream, connection: ServiceConnection): Promise<void> {
  const frame = await stream.readFrame(64)
  if (frame !== undefined) await stream.writeFrame(new TextEncoder().encode(`${connection.peerId}:${frame.byteLength}`), { end: true })
}

const nodes: CrustNode[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
})

describe('a third-party service written against the contract interfaces', () => {
  it("core's classes are what the interfaces describe", () => {
    expectTypeOf<Connection>().toMatchTypeOf<ServiceConnection>()
    expectTypeOf<ProtocolStream>().toMatchTypeOf<ServiceStream>()
  })

  it('reports its own method and states, which the node keeps and emits', async () => {
    const service = pcp('tcp://198.51.100.7:40001')
    const node = await createNode({ networkName: 'pcp', logLevel: 'error', bootstrap: { cache: false }, services: [service.factory] })
    nodes.push(node)
    await node.start()
    expect(node.runningServices.map((s) => s.id)).toEqual(['pcp'])
    expect(node.nat).toEqual({ pcp: { kind: 'pcp', state: 'probing', addresses: [], details: { lifetime: 7200 } } })

    const changes: Array<{ status: unknown; report: TraversalReport }> = []
    node.on('nat:change', (change) => changes.push(change))
    service.report('mapped')
    service.report('mapped') // the same report again: no event
    expect(changes).toHaveLength(1)
    expect(changes[0]?.report).toEqual({ kind: 'pcp', state: 'mapped', addresses: ['tcp://198.51.100.7:40001'], details: { lifetime: 7200 } })
    expect(changes[0]?.status).toBe(node.nat)
    expect(node.addresses).toContain('tcp://198.51.100.7:40001')

    // Another service's report sits beside it; neither replaces the other.
    service.components().reportTraversal({ kind: 'turn', state: 'allocated', addresses: ['tcp://203.0.113.9:3478'] })
    expect(Object.keys(node.nat).sort()).toEqual(['pcp', 'turn'])
    expect(node.nat.pcp?.state).toBe('mapped')
  })

  it('is refused a kind the handshake could not carry as a method', async () => {
    const service = pcp('tcp://198.51.100.7:40001')
    const node = await createNode({ networkName: 'pcp', logLevel: 'error', bootstrap: { cache: false }, services: [service.factory] })
    nodes.push(node)
    await node.start()
    for (const kind of ['PCP', '', 'a'.repeat(33), 'nat pmp']) {
      expect(() => service.components().reportTraversal({ kind, state: 'mapped' })).toThrow(ConfigError)
    }
    expect(Object.keys(node.nat)).toEqual(['pcp'])
  })
})
