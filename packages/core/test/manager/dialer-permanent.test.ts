import { describe, expect, it } from 'vitest'
import { AuthenticationError, DialError, ProtocolError, TimeoutError } from '../../src/index.js'
import { isPermanent } from '../../src/manager/dialer.js'

/** A second copy of core's errors, as a plugin with its own copy of `@crust/core` would throw. */
async function otherCopy(): Promise<typeof import('../../src/errors.js')> {
  // @ts-expect-error: the query string only tells vite to load the module again
  return import('../../src/errors.ts?other-copy')
}

describe('isPermanent (no retry can fix it)', () => {
  it('classifies errors of this copy of core', () => {
    expect(isPermanent(new AuthenticationError('bad certificate'))).toBe(true)
    expect(isPermanent(new TimeoutError('slow'))).toBe(false)
    expect(isPermanent(new ProtocolError('garbage'))).toBe(false)
    expect(isPermanent(new Error('ECONNREFUSED'))).toBe(false)
  })

  it('classifies errors a plugin made with another copy of core by their code, so an AuthenticationError is not retried', async () => {
    const copy = await otherCopy()
    expect(isPermanent(new copy.AuthenticationError('bad certificate'))).toBe(true)
    expect(isPermanent(new copy.BlacklistedError('blacklisted'))).toBe(true)
    expect(isPermanent(new copy.ConnectionLimitError('full'))).toBe(true)
    expect(isPermanent(new copy.TimeoutError('slow'))).toBe(false)
    const everyAddress = new copy.DialError('all failed', [
      { address: 'tcp://127.0.0.1:1', error: new copy.AuthenticationError('bad certificate') },
      { address: 'quic://127.0.0.1:1', error: new AuthenticationError('bad certificate') },
    ])
    expect(isPermanent(everyAddress)).toBe(true)
    const oneTransient = new DialError('all failed', [
      { address: 'tcp://127.0.0.1:1', error: new copy.AuthenticationError('bad certificate') },
      { address: 'quic://127.0.0.1:1', error: new copy.TimeoutError('slow') },
    ])
    expect(isPermanent(oneTransient)).toBe(false)
  })

  it('does not take a look-alike code for a Crust error', () => {
    expect(isPermanent(Object.assign(new Error('not ours'), { code: 'ERR_AUTHENTICATION' }))).toBe(false)
  })
})
