import { describe, expect, it } from 'vitest'
import { unlessAbandoned } from '../../src/manager/handover.js'

/** A promise settled from outside. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: Error): void } {
  let resolve!: (value: T) => void
  let reject!: (error: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe('unlessAbandoned', () => {
  it('hands the result to the caller when it waits to the end; nothing is orphaned', async () => {
    const work = deferred<string>()
    const orphans: string[] = []
    const waiting = unlessAbandoned(work.promise, new AbortController().signal, () => (v) => orphans.push(v))
    work.resolve('done')
    await expect(waiting).resolves.toBe('done')
    expect(orphans).toEqual([])
  })

  it('a caller that gives up hears AbortError at once; the work runs on and its result goes to the orphan handler', async () => {
    const work = deferred<string>()
    const orphans: string[] = []
    const caller = new AbortController()
    const waiting = unlessAbandoned(work.promise, caller.signal, () => (v) => orphans.push(v))
    caller.abort()
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    expect(orphans).toEqual([])
    work.resolve('late')
    await work.promise
    await Promise.resolve()
    expect(orphans).toEqual(['late'])
  })

  it('already abandoned: rejects at once and still adopts the result; a failure after abandonment is not unhandled', async () => {
    const caller = new AbortController()
    caller.abort()
    const orphans: string[] = []
    await expect(unlessAbandoned(Promise.resolve('x'), caller.signal, () => (v) => orphans.push(v))).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    await Promise.resolve()
    expect(orphans).toEqual(['x'])
    const failing = deferred<string>()
    const other = new AbortController()
    const waiting = unlessAbandoned(failing.promise, other.signal, () => (v) => orphans.push(v))
    other.abort()
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    failing.reject(new Error('handshake failed'))
    await new Promise((r) => setTimeout(r, 10))
    expect(orphans).toEqual(['x'])
  })

  it('a failure before abandonment reaches the caller', async () => {
    const work = deferred<string>()
    const waiting = unlessAbandoned(work.promise, new AbortController().signal, () => () => {})
    work.reject(new Error('refused'))
    await expect(waiting).rejects.toThrow('refused')
  })

  it('asks for the handler at the moment of abandonment, so it can act on what held then', async () => {
    const work = deferred<string>()
    const caller = new AbortController()
    let state = 'before'
    const seen: string[] = []
    const waiting = unlessAbandoned(work.promise, caller.signal, () => {
      const then = state
      return (v) => seen.push(`${v} (abandoned while ${then})`)
    })
    caller.abort()
    state = 'after'
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    work.resolve('done')
    await Promise.resolve()
    await Promise.resolve()
    expect(seen).toEqual(['done (abandoned while before)'])
  })
})
