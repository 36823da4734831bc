import { nodeComplianceTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { quic } from '../src/index.js'
import './helpers.js' // fails a test on any unhandled rejection

describe('quic() passes the node compliance suite', () => {
  for (const t of nodeComplianceTests({ name: 'quic', transportId: 'quic', transports: () => [quic({ host: '127.0.0.1' })] })) {
    it(t.name, t.run, t.timeoutMs)
  }
})
