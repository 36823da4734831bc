/**
 * Real nodes for the attack tests: one per transport under attack, stopped
 * after each test.
 */
import { type CrustNode, type LogRecord, type NodeConfigInput, createNode } from '@crust/core'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'
import { afterEach } from 'vitest'

/** The transports every attack runs against. */
export const TRANSPORTS = ['tcp', 'quic'] as const
export type TransportName = (typeof TRANSPORTS)[number]

const started: CrustNode[] = []

/** A node on loopback speaking only `transport`; stopped after the test. */
export async function startNode(transport: TransportName, overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
  const node = await createNode({
    networkName: 'attack-net',
    transports: [transport === 'tcp' ? tcp({ host: '127.0.0.1' }) : quic({ host: '127.0.0.1' })],
    logLevel: 'error',
    ...overrides,
    bootstrap: { cache: false, ...overrides.bootstrap },
  })
  started.push(node)
  await node.start()
  return node
}

/** A contact for `node`. */
export function contactOf(node: CrustNode): { peerId: string; addresses: string[] } {
  return { peerId: node.peerId, addresses: node.addresses }
}

/** A log sink that keeps every record, for counting log lines. */
export function captureLogs(): { sink: (record: LogRecord) => void; records: LogRecord[] } {
  const records: LogRecord[] = []
  return { sink: (record) => records.push(record), records }
}

afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((node) => node.stop()))
})
