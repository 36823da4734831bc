import { describe, expect, it } from 'vitest'
import { Collector, TestGate, transportComplianceTests } from '../../src/testing/index.js'
import { assertTypedError, rejection, settlesWithin, within } from '../../src/testing/util.js'
import { AbortError, AuthenticationError } from '../../src/errors.js'

describe('Collector', () => {
  it('hands items out in arrival order, to waiters first come first served', async () => {
    const collector = new Collector<number>()
    collector.push(1)
    const first = collector.next(1000, 'one')
    const second = collector.next(1000, 'two')
    const third = collector.next(1000, 'three')
    collector.push(2)
    collector.push(3)
    expect(await Promise.all([first, second, third])).toEqual([1, 2, 3])
    expect(collector.items).toEqual([1, 2, 3])
    expect(collector.count).toBe(3)
  })

  it('rejects naming what it waited for, and a timed-out waiter takes nothing later', async () => {
    const collector = new Collector<string>()
    await expect(collector.next(20, 'the thing')).rejects.toThrow('timed out after 20 ms waiting for the thing')
    collector.push('late')
    expect(await collector.next(20, 'the late thing')).toBe('late')
  })
})

describe('TestGate', () => {
  it('counts admissions, refusals and releases, and flags a second release of one attempt', () => {
    const gate = new TestGate()
    const remote = { transport: 'tcp', host: '127.0.0.1', port: 5000 }
    const admitted = gate.admitInbound(remote)
    expect(admitted.allow).toBe(true)
    expect(gate.outstanding).toBe(1)
    admitted.release?.()
    admitted.release?.()
    expect(gate).toMatchObject({ admitted: 1, released: 1, extraReleases: 1, outstanding: 0 })

    gate.decision = { allow: false, code: 5, reason: 'no' }
    expect(gate.admitInbound(remote)).toEqual({ allow: false, code: 5, reason: 'no' })
    expect(gate.refused).toBe(1)
    expect(gate.seen).toHaveLength(2)
  })

  it('runs onAdmit synchronously on admission only', () => {
    const gate = new TestGate()
    const calls: number[] = []
    gate.onAdmit = (remote) => calls.push(remote.port)
    gate.admitInbound({ transport: 'ws', host: '::1', port: 1 })
    gate.decision = { allow: false, code: 3, reason: 'blocked' }
    gate.admitInbound({ transport: 'ws', host: '::1', port: 2 })
    expect(calls).toEqual([1])
  })
})

describe('suite helpers', () => {
  it('within rejects with the name of what it waited for', async () => {
    await expect(within(new Promise(() => {}), 20, 'nothing')).rejects.toThrow('waiting for nothing')
    expect(await within(Promise.resolve(7), 20, 'seven')).toBe(7)
  })

  it('settlesWithin tells settled from pending, rejections included', async () => {
    expect(await settlesWithin(Promise.reject(new Error('x')), 20)).toBe(true)
    expect(await settlesWithin(new Promise(() => {}), 20)).toBe(false)
  })

  it('rejection returns the error, and fails on a resolution (cleaning it up) or a hang', async () => {
    const error = new Error('boom')
    expect(await rejection(Promise.reject(error), 20, 'boom')).toBe(error)
    const cleaned: string[] = []
    await expect(rejection(Promise.resolve('conn'), 20, 'a dial', (c) => void cleaned.push(c))).rejects.toThrow('expected a rejection')
    expect(cleaned).toEqual(['conn'])
    await expect(rejection(new Promise(() => {}), 20, 'a hang')).rejects.toThrow('neither resolved nor rejected')
  })

  it('assertTypedError checks the name and code of core errors', () => {
    expect(() => assertTypedError(new AbortError(), { name: 'AbortError', code: 'ERR_ABORTED' }, 'x')).not.toThrow()
    expect(() => assertTypedError(new AuthenticationError('no'), { name: 'AbortError', code: 'ERR_ABORTED' }, 'x')).toThrow(
      'expected AbortError, got AuthenticationError',
    )
    expect(() => assertTypedError(new Error('plain'), { name: 'AbortError', code: 'ERR_ABORTED' }, 'x')).toThrow('x: expected AbortError, got Error')
  })
})

describe('transportComplianceTests', () => {
  it('lists every case once with a name and a timeout, without running setup', () => {
    let setups = 0
    const tests = transportComplianceTests({
      setup: async () => {
        setups++
        throw new Error('not called')
      },
    })
    expect(tests.length).toBeGreaterThanOrEqual(25)
    expect(new Set(tests.map((t) => t.name)).size).toBe(tests.length)
    for (const t of tests) expect(t.timeoutMs).toBeGreaterThan(0)
    expect(setups).toBe(0)
  })

  it('reports a failing setup as the failure of the test, and still calls teardown', async () => {
    let teardowns = 0
    const [first] = transportComplianceTests({
      setup: async () => {
        throw new Error('setup broke')
      },
      teardown: async () => {
        teardowns++
      },
    })
    await expect(first?.run()).rejects.toThrow('setup broke')
    expect(teardowns).toBe(1)
  })
})
