import 'reflect-metadata'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/parse.js'
import type { Connection } from '../../src/connection/connection.js'
import { createLogger } from '../../src/logger.js'
import { KeepAlive, MIN_KEEP_ALIVE } from '../../src/manager/keep-alive.js'
import { ConnectionPool } from '../../src/manager/pool.js'

const fake = (fields: Partial<Connection>) => fields as Connection

describe('KeepAlive', () => {
  const keepAlive = () =>
    new KeepAlive(parseConfig({ networkName: 'n', connection: { keepAliveInterval: 10_000 } }), createLogger('silent', 'test'), new ConnectionPool('me'))

  it('pings within a third of a peer idle timeout shorter than twice our keep-alive, and leaves others to the transport', () => {
    const k = keepAlive()
    expect(k.intervalFor(fake({ remoteIdleTimeout: 6_000, method: 'direct' }))).toBe(2_000)
    expect(k.intervalFor(fake({ remoteIdleTimeout: 30_000, method: 'direct' }))).toBeUndefined()
    expect(k.intervalFor(fake({ remoteIdleTimeout: 0, method: 'direct' }))).toBeUndefined()
    expect(k.intervalFor(fake({ remoteIdleTimeout: 900, method: 'direct' }))).toBe(MIN_KEEP_ALIVE)
  })

  it('learns from a punched path that died after a quiet spell, and keeps every punched connection alive within a third of it', () => {
    const k = keepAlive()
    k.pathLost(fake({ method: 'direct' }), 6_000) // not punched: nothing learnt
    k.pathLost(fake({ method: 'punched' }), 500) // too short to be a NAT timeout
    expect(k.punchedInterval).toBeUndefined()
    k.pathLost(fake({ method: 'punched' }), 6_000)
    expect(k.punchedInterval).toBe(2_000)
    k.pathLost(fake({ method: 'punched' }), 9_000) // longer: the shortest stands
    expect(k.punchedInterval).toBe(2_000)
    expect(k.intervalFor(fake({ method: 'punched' }))).toBe(2_000)
    expect(k.intervalFor(fake({ method: 'relayed' }))).toBeUndefined()
    k.stop()
  })
})
