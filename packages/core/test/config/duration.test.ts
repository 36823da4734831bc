import { describe, expect, it } from 'vitest'
import { parseDuration } from '../../src/config/duration.js'
import { parseConfig } from '../../src/config/parse.js'
import { ConfigError } from '../../src/errors.js'

describe('durations in the config', () => {
  it('accept strings with a unit, as the CLI flags do, wherever milliseconds are asked for', () => {
    const config = parseConfig({
      networkName: 'n',
      transports: [],
      connection: { idleTimeout: '45s', keepAliveInterval: '500ms', dialTimeout: '1.5s' },
      retry: { initialDelay: '250ms', maxElapsed: '2m' },
      bootstrap: { revalidateAfter: '24h' },
      autoConnect: { yieldDelay: '2s' },
    })
    expect(config.connection).toMatchObject({ idleTimeout: 45_000, keepAliveInterval: 500, dialTimeout: 1_500 })
    expect(config.retry).toMatchObject({ initialDelay: 250, maxElapsed: 120_000 })
    expect(config.bootstrap.revalidateAfter).toBe(24 * 3_600_000)
    expect(config.autoConnect.yieldDelay).toBe(2_000)
    // Numbers stay milliseconds.
    expect(parseConfig({ networkName: 'n', transports: [], connection: { idleTimeout: 61_234 } }).connection.idleTimeout).toBe(61_234)
  })

  it('refuse what is not a duration, naming the field; bounds apply after conversion; cross-field checks still see milliseconds', () => {
    const issue = (input: Record<string, unknown>): string => {
      try {
        parseConfig({ networkName: 'n', transports: [], ...input })
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError)
        return (error as Error).message
      }
      throw new Error('accepted')
    }
    expect(issue({ connection: { idleTimeout: '5 sec' } })).toMatch(/connection\.idleTimeout: must be milliseconds or a duration such as "500ms"/)
    expect(issue({ connection: { dialTimeout: '0s' } })).toMatch(/connection\.dialTimeout: Too small/)
    expect(issue({ connection: { idleTimeout: -1 } })).toMatch(/connection\.idleTimeout: Too small: expected number to be >=0/)
    expect(issue({ connection: { keepAliveInterval: '30s', idleTimeout: '10s' } })).toMatch(/keepAliveInterval: must be less than idleTimeout \(10000\)/)
    expect(issue({ autoConnect: { yieldDelay: '2m' } })).toMatch(/autoConnect\.yieldDelay: Too big/)
  })

  it('parseDuration reads ms, s, m and h, and nothing else', () => {
    expect([parseDuration('500ms'), parseDuration('5s'), parseDuration('1.5s'), parseDuration('2m'), parseDuration('1h')]).toEqual([
      500, 5_000, 1_500, 120_000, 3_600_000,
    ])
    for (const bad of ['5', '5 s', 's', '-1s', '1e3ms', '5d']) expect(parseDuration(bad)).toBeNaN()
  })
})
