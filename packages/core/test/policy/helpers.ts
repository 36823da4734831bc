import { afterEach, vi } from 'vitest'
import type { NodeConfigInput } from '../../src/config/schema.js'
import type { CrustNode } from '../../src/node.js'
import { MemoryNetwork, createTestNode, memoryTransport, stopTestNodes } from '../../src/testing/index.js'

/** Nodes on one in-memory network, stopped after each test. */
export class Net {
  readonly network = new MemoryNetwork()

  /**
   * Start a node on `host` (default 127.0.0.1). Reachability dial-backs are
   * off unless `overrides` turn them on, so every dial a test counts is one
   * of the policy under test.
   */
  node(overrides: Partial<NodeConfigInput> = {}, host?: string): Promise<CrustNode> {
    const transports = [memoryTransport(this.network, host === undefined ? {} : { host })]
    return createTestNode(transports, { reachability: { check: 'off' }, ...overrides })
  }
}

afterEach(async () => {
  vi.useRealTimers()
  await stopTestNodes()
})

/**
 * Fake the clocks the node's policy runs on (timers, `Date`, `performance`),
 * so a test moves time with `vi.advanceTimersByTimeAsync` instead of
 * sleeping. Promises and `queueMicrotask` stay real: the memory transport
 * needs no timer to connect or carry data.
 */
export function fakeClocks(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] })
}

export { contactOf, waitFor } from '../../src/testing/index.js'

/** The only address `node` listens on. */
export function addressOf(node: CrustNode): string {
  const [address] = node.addresses
  if (address === undefined || node.addresses.length !== 1) throw new Error(`expected one address, got ${node.addresses.join(', ')}`)
  return address
}
