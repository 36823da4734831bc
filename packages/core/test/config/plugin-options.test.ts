import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { parsePluginOptions } from '../../src/config/plugin-options.js'
import { ConfigError } from '../../src/errors.js'
import * as plugin from '../../src/plugin.js'

const schema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(0),
  host: z.string().min(1).optional(),
  limits: z.strictObject({ rate: z.number().positive().default(10) }).prefault({}),
})

/** Parse expecting failure; returns the ConfigError. */
function configError(input: unknown): ConfigError {
  try {
    parsePluginOptions('demo', schema, input)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected parsePluginOptions to throw')
}

describe('parsePluginOptions', () => {
  it('is exported from @crust/core/plugin', () => {
    expect(plugin.parsePluginOptions).toBe(parsePluginOptions)
  })

  it('fills defaults; no options means {}', () => {
    expect(parsePluginOptions('demo', schema, undefined)).toEqual({ port: 0, limits: { rate: 10 } })
    expect(parsePluginOptions('demo', schema, { port: 4001, limits: { rate: 2 } })).toEqual({ port: 4001, limits: { rate: 2 } })
  })

  it('names an unknown key at its own path, under the plugin', () => {
    const error = configError({ prot: 4001 })
    expect(error.issues).toEqual([{ path: 'demo.prot', message: 'Unknown option' }])
    expect(error.message).toBe('Invalid demo() options: demo.prot: Unknown option')
  })

  it('names a field of the wrong type or out of range', () => {
    expect(configError({ host: 5 }).issues).toEqual([{ path: 'demo.host', message: 'Invalid input: expected string, received number' }])
    expect(configError({ port: 70_000 }).message).toBe('Invalid demo() options: demo.port: Too big: expected number to be <=65535')
  })

  it('names nested fields, unknown nested keys included', () => {
    expect(configError({ limits: { rate: 0, burst: 1 } }).issues).toEqual([
      { path: 'demo.limits.rate', message: 'Too small: expected number to be >0' },
      { path: 'demo.limits.burst', message: 'Unknown option' },
    ])
  })

  it('reports every problem at once, each unknown key separately', () => {
    const error = configError({ port: -1, host: '', prot: 1, hots: 'x' })
    expect(error.issues.map((i) => i.path)).toEqual(['demo.port', 'demo.host', 'demo.prot', 'demo.hots'])
    expect(error.message).toBe(
      'Invalid demo() options: demo.port: Too small: expected number to be >=0; demo.host: Too small: expected string to have >=1 characters; ' +
        'demo.prot: Unknown option; demo.hots: Unknown option',
    )
  })

  it('names the plugin when the options are not an object', () => {
    expect(configError(4001).issues).toEqual([{ path: 'demo', message: 'Invalid input: expected object, received number' }])
  })
})
