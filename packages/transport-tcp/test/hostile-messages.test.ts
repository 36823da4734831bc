/** Lying and unfinished messages from an authenticated peer, against a real node over TCP + TLS 1.3. */
import { messageAttackTests } from '@crust/core/testing'
import { describe, it } from 'vitest'
import { tcp } from '../src/index.js'

describe('hostile messages over TCP', () => {
  for (const t of messageAttackTests({ factory: () => tcp({ host: '127.0.0.1' }) })) it(t.name, t.run, t.timeoutMs)
})
