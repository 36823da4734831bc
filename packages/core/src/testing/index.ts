/**
 * `@crust/core/testing`: the compliance suites every transport plugin runs
 * against itself (the transport contract, and real nodes through
 * `createNode`), test-runner agnostic, and the helpers node-level tests share.
 *
 * @example With vitest:
 * ```ts
 * import { it } from 'vitest'
 * import { transportComplianceTests } from '@crust/core/testing'
 * for (const t of transportComplianceTests({ setup: async () => ({ factory: tcp(), listenAddress: 'tcp://127.0.0.1:0' }) })) it(t.name, t.run, t.timeoutMs)
 * ```
 * @packageDocumentation
 */
export {
  transportComplianceTests,
  type ComplianceTest,
  type TransportComplianceOptions,
  type TransportUnderTest,
} from './suite.js'
export { TestGate, type TestGateDecision } from './gate.js'
export { Collector } from './collector.js'
export { waitUntil, sha256, sleep, readAll } from './util.js'
export { HostilePeer, type HostilePeerOptions } from './hostile.js'
export { messageAttackTests, peakMemoryGrowth, type MessageAttackOptions } from './attacks.js'
export { nodeComplianceTests, type NodeComplianceOptions } from './node-suite.js'
export { createTestNode, stopTestNodes, contactOf, waitFor } from './nodes.js'
export { newSigningIdentity } from './identity.js'
export { pathTests, type PathTestOptions } from './path-tests.js'
export { pathProxy, type PathProxy } from './path-proxy.js'
export { MemoryNetwork, memoryTransport, type MemoryTransportOptions, type DialRecord, type DialRule } from './memory/index.js'
