/**
 * Real nodes for the attack tests: one per transport under attack, made with
 * `@crust/core/testing`'s `createTestNode` and stopped after each test.
 */
import type { CrustNode, LogRecord, NodeConfigInput } from '@crust/core'
import { createTestNode, stopTestNodes } from '@crust/core/testing'
import { quic } from '@crust/transport-quic'
import { tcp } from '@crust/transport-tcp'
import { afterEach } from 'vitest'

export { contactOf } from '@crust/core/testing'

/** The transports every attack runs against. */
export const TRANSPORTS = ['tcp', 'quic'] as const
export type TransportName = (typeof TRANSPORTS)[number]

/** A node on loopback speaking only `transport`; stopped after the test. */
export function startNode(transport: TransportName, overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> {
  return createTestNode([transport === 'tcp' ? tcp({ host: '127.0.0.1' }) : quic({ host: '127.0.0.1' })], overrides)
}

/** A log sink that keeps every record, for counting log lines. */
export function captureLogs(): { sink: (record: LogRecord) => void; records: LogRecord[] } {
  const records: LogRecord[] = []
  return { sink: (record) => records.push(record), records }
}

afterEach(() => stopTestNodes())
