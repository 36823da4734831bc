import { describe, expect, it } from 'vitest'
import { AuthenticationError } from '../src/index.js'
import { asError, errorMessage } from '../src/plugin.js'

describe('errorMessage', () => {
  it("is an Error's message, without its name", () => {
    expect(errorMessage(new AuthenticationError('bad certificate'))).toBe('bad certificate')
  })

  it('is the text of any other thrown value, and never throws', () => {
    expect(errorMessage('plain string')).toBe('plain string')
    expect(errorMessage(42)).toBe('42')
    expect(errorMessage(null)).toBe('null')
    expect(errorMessage(undefined)).toBe('undefined')
    expect(errorMessage(Object.create(null))).toBe('[object Object]')
    expect(errorMessage({ toString: () => 'custom' })).toBe('custom')
  })
})

describe('asError', () => {
  it('returns an Error itself', () => {
    const error = new TypeError('boom')
    expect(asError(error)).toBe(error)
  })

  it('wraps anything else in an Error carrying its text', () => {
    const wrapped = asError('plain string')
    expect(wrapped).toBeInstanceOf(Error)
    expect(wrapped.message).toBe('plain string')
    expect(asError(null).message).toBe('null')
  })
})
