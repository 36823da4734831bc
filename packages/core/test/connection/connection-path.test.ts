import { describe, expect, expectTypeOf, it } from 'vitest'
import type { Connection, ConnectionMethod } from '../../src/index.js'

describe("Connection's path fields", () => {
  it('are read-only to users (the core sets them through setPath)', () => {
    const assign = (connection: Connection): void => {
      // @ts-expect-error: read-only
      connection.method = 'relayed'
      // @ts-expect-error: read-only
      connection.remoteRole = 'client'
      // @ts-expect-error: read-only
      connection.observedAddress = 'tcp://127.0.0.1:1'
      // @ts-expect-error: read-only
      connection.fallback = undefined
      // @ts-expect-error: read-only
      connection.lastActiveAt = 0
    }
    // Type-checked only (tsconfig.tests.json): each assignment must be a compile error.
    expect(typeof assign).toBe('function')
    expectTypeOf<'nat-pmp'>().toExtend<ConnectionMethod>()
  })
})
