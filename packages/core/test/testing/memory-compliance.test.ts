import { describe, it } from 'vitest'
import { MemoryNetwork, memoryTransport, transportComplianceTests } from '../../src/testing/index.js'

// The memory transport is held to the same contract as TCP and QUIC.
describe('memory transport: transport compliance suite', () => {
  for (const t of transportComplianceTests({
    setup: async () => ({ factory: memoryTransport(new MemoryNetwork()), listenAddress: 'memory://listener:0' }),
  })) {
    it(t.name, t.run, t.timeoutMs)
  }
})
