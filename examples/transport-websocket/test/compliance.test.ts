import { transportComplianceTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { websocket } from '../src/index.js'

describe('websocket() passes the transport compliance suite', () => {
  const tests = transportComplianceTests({
    setup: async () => ({ factory: websocket({ host: '127.0.0.1' }), listenAddress: 'ws://127.0.0.1:0' }),
  })
  for (const t of tests) it(t.name, t.run, t.timeoutMs)
})
