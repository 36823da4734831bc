import { describe, it } from 'vitest'
import { MemoryNetwork, memoryTransport, nodeComplianceTests, transportComplianceTests } from '../../src/testing/index.js'

// The memory transport is held to the same contracts as TCP and QUIC.
describe('memory transport: transport compliance suite', () => {
  for (const t of transportComplianceTests({
    setup: async () => ({ factory: memoryTransport(new MemoryNetwork()), listenAddress: 'memory://listener:0' }),
  })) {
    it(t.name, t.run, t.timeoutMs)
  }
})

describe('memory transport: node compliance suite', () => {
  const network = new MemoryNetwork()
  for (const t of nodeComplianceTests({ name: 'memory', transportId: 'memory', transports: () => [memoryTransport(network)] })) {
    it(t.name, t.run, t.timeoutMs)
  }
})
