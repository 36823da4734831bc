import { ConfigError } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { tcp } from '../src/index.js'

/** Call `tcp(options)` expecting a ConfigError; returns it. */
function configError(options: unknown): ConfigError {
  try {
    tcp(options as never)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected tcp() to throw')
}

describe('tcp() options', () => {
  it('names a misspelt option instead of ignoring it', () => {
    const error = configError({ prot: 4001 })
    expect(error.issues).toEqual([{ path: 'tcp.prot', message: 'Unknown option' }])
    expect(error.message).toBe('Invalid tcp() options: tcp.prot: Unknown option')
  })

  it('refuses a port out of range at the factory call, not at start()', () => {
    expect(configError({ port: 70_000 }).issues).toEqual([{ path: 'tcp.port', message: 'Too big: expected number to be <=65535' }])
    expect(configError({ port: 1.5 }).issues.map((i) => i.path)).toEqual(['tcp.port'])
  })

  it('checks every option, all problems at once', () => {
    const error = configError({ port: '4001', host: '', backlog: 0, maxQueuedControlFrames: 8 })
    expect(error.issues.map((i) => i.path)).toEqual(['tcp.port', 'tcp.host', 'tcp.backlog', 'tcp.maxQueuedControlFrames'])
  })

  it('accepts every documented option', () => {
    expect(() => tcp()).not.toThrow()
    expect(() => tcp({ port: 0, host: '127.0.0.1', backlog: 16, maxQueuedControlFrames: 16 })).not.toThrow()
    expect(() => tcp({ port: 65535, maxQueuedControlFrames: 4096 })).not.toThrow()
  })
})
