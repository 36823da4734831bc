import { transportComplianceTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { quic } from '../src/index.js'

describe('quic() passes the transport compliance suite', () => {
  const tests = transportComplianceTests({
    setup: async () => ({ factory: quic({ host: '127.0.0.1' }), listenAddress: 'quic://127.0.0.1:0' }),
    // UDP has no reset: a dial to a closed port, or an attempt abandoned mid-handshake, is only
    // noticed when the handshake times out, so keep that short enough for the suite's windows.
    limits: { handshakeTimeout: 2_000 },
  })
  for (const t of tests) it(t.name, t.run, t.timeoutMs)
})
