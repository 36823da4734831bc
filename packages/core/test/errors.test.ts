import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  AuthenticationError,
  CrustError,
  DialError,
  type ErrorCode,
  QueueClosedError,
  StreamResetError,
  isCrustError,
} from '../src/index.js'

/**
 * A second copy of core's errors module, as an app with two installed copies
 * of `@crust/core` would hold: the query string makes vite load it again.
 */
async function otherCopy(): Promise<typeof import('../src/errors.js')> {
  // @ts-expect-error: the query string only tells vite to load the module again
  return import('../src/errors.ts?other-copy')
}

describe('isCrustError', () => {
  it('matches an error of this copy by class and by code', () => {
    const error = new AuthenticationError('bad certificate')
    expect(isCrustError(error)).toBe(true)
    expect(isCrustError(error, 'ERR_AUTHENTICATION')).toBe(true)
    expect(isCrustError(error, 'ERR_BLACKLISTED')).toBe(false)
    expect(isCrustError(new QueueClosedError(), 'ERR_QUEUE_CLOSED')).toBe(true)
  })

  it('matches an error made by another copy of core, which instanceof does not', async () => {
    const copy = await otherCopy()
    const error = new copy.AuthenticationError('bad certificate')
    expect(error).not.toBeInstanceOf(AuthenticationError)
    expect(error).not.toBeInstanceOf(CrustError)
    expect(isCrustError(error)).toBe(true)
    expect(isCrustError(error, 'ERR_AUTHENTICATION')).toBe(true)
    // ...and the other way round.
    expect(copy.isCrustError(new StreamResetError('reset', 7), 'ERR_STREAM_RESET')).toBe(true)
  })

  it("matches a plugin's own code", () => {
    class RelayLikeError extends CrustError {
      constructor() {
        super('ERR_PLUGIN_OWN', 'a plugin error')
      }
    }
    expect(isCrustError(new RelayLikeError(), 'ERR_PLUGIN_OWN')).toBe(true)
    expect(isCrustError(new RelayLikeError(), 'ERR_RELAY')).toBe(false)
  })

  it('does not match an error that only looks like one: a code alone is not a Crust error', () => {
    const lookalike = Object.assign(new Error('from node'), { code: 'ERR_TIMEOUT' })
    expect(isCrustError(lookalike)).toBe(false)
    expect(isCrustError(lookalike, 'ERR_TIMEOUT')).toBe(false)
    expect(isCrustError({ code: 'ERR_AUTHENTICATION', message: 'plain object' }, 'ERR_AUTHENTICATION')).toBe(false)
    expect(isCrustError(undefined)).toBe(false)
    expect(isCrustError('ERR_AUTHENTICATION')).toBe(false)
  })

  it("narrows to the code's class", () => {
    const error: unknown = new DialError('all failed', [{ address: 'tcp://127.0.0.1:1', error: new Error('refused') }])
    if (!isCrustError(error, 'ERR_DIAL_FAILED')) throw new Error('expected a DialError')
    expectTypeOf(error).toEqualTypeOf<DialError>()
    expect(error.errors).toHaveLength(1)
  })
})

describe('CrustError.code', () => {
  it("is one of core's codes, or a plugin's own string", () => {
    expectTypeOf<'ERR_AUTHENTICATION'>().toExtend<ErrorCode>()
    expectTypeOf(new AuthenticationError('x').code).toExtend<string>()
    // Core's codes are checked: a misspelt one is not an ErrorCode.
    expectTypeOf<'ERR_AUTHENTICATON'>().not.toExtend<ErrorCode>()
    expect(new CrustError('ERR_PLUGIN_OWN', 'x').code).toBe('ERR_PLUGIN_OWN')
  })
})
