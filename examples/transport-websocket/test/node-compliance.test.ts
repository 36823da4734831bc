import { nodeComplianceTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { websocket } from '../src/index.js'

describe('websocket() passes the node compliance suite', () => {
  for (const t of nodeComplianceTests({ name: 'websocket', transportId: 'ws', transports: () => [websocket({ host: '127.0.0.1' })] })) {
    it(t.name, t.run, t.timeoutMs)
  }
})
