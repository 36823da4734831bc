import { nodeComplianceTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { tcp } from '../src/index.js'

describe('tcp() passes the node compliance suite', () => {
  for (const t of nodeComplianceTests({ name: 'tcp', transportId: 'tcp', transports: () => [tcp({ host: '127.0.0.1' })] })) {
    it(t.name, t.run, t.timeoutMs)
  }
})
