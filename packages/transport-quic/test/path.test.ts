import { pathTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { quic } from '../src/index.js'

describe('QUIC when the path dies or degrades (through a loopback UDP proxy)', () => {
  for (const t of pathTests({ transports: () => [quic({ host: '127.0.0.1' })], scheme: 'quic', proxy: 'udp' })) it(t.name, t.run, t.timeoutMs)
})
