import { describe, expect, it } from 'vitest'
import { AbortError } from '../../src/errors.js'
import { RaceFailedError, raceStaggered } from '../../src/manager/race.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('raceStaggered', () => {
  it('starts the next candidate after the stagger delay and keeps the first success', async () => {
    const started: string[] = []
    const disposed: string[] = []
    const winner = await raceStaggered(
      ['slow', 'fast'],
      async (name, signal) => {
        started.push(name)
        await sleep(name === 'slow' ? 200 : 10)
        if (signal.aborted) throw new AbortError()
        return name
      },
      { staggerMs: 30, dispose: (v) => disposed.push(v) },
    )
    expect(winner).toBe('fast')
    expect(started).toEqual(['slow', 'fast'])
  })

  it('moves to the next candidate at once when one fails', async () => {
    const startedAt: number[] = []
    const t0 = Date.now()
    const winner = await raceStaggered(
      ['bad', 'good'],
      async (name) => {
        startedAt.push(Date.now() - t0)
        if (name === 'bad') throw new Error('refused')
        return name
      },
      { staggerMs: 5000, dispose: () => {} },
    )
    expect(winner).toBe('good')
    expect(startedAt[1]).toBeLessThan(1000)
  })

  it('reports every failure when all fail', async () => {
    const failure = await raceStaggered(['a', 'b', 'c'], async (name) => Promise.reject(new Error(name)), {
      staggerMs: 0,
      dispose: () => {},
    }).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(RaceFailedError)
    expect((failure as RaceFailedError<string>).failures.map((f) => f.error.message).sort()).toEqual(['a', 'b', 'c'])
  })

  it('disposes of late successes and aborts the losers', async () => {
    const disposed: string[] = []
    const aborted: string[] = []
    await raceStaggered(
      ['a', 'b'],
      async (name, signal) => {
        signal.addEventListener('abort', () => aborted.push(name))
        await sleep(name === 'a' ? 5 : 30)
        return name
      },
      { staggerMs: 0, dispose: (v) => disposed.push(v) },
    )
    await sleep(50)
    expect(aborted).toEqual(['b'])
    expect(disposed).toEqual(['b'])
  })

  it('rejects with AbortError when the caller aborts', async () => {
    const controller = new AbortController()
    const racing = raceStaggered(['a'], () => sleep(1000).then(() => 'a'), {
      staggerMs: 0,
      signal: controller.signal,
      dispose: () => {},
    })
    controller.abort()
    await expect(racing).rejects.toBeInstanceOf(AbortError)
  })
})
