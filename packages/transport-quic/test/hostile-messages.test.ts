/** Lying and unfinished messages from an authenticated peer, against a real node over QUIC. */
import { messageAttackTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { quic } from '../src/index.js'

describe('hostile messages over QUIC', () => {
  for (const t of messageAttackTests({ factory: () => quic({ host: '127.0.0.1' }) })) it(t.name, t.run, t.timeoutMs)
})
