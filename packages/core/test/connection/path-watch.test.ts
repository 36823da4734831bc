import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { PathWatch, type WatchedPath } from '../../src/connection/path-watch.js'

/** A connection the test drives: waiting or not, heard from when the test says, probes answered or not. */
function path(options: { answersProbes: boolean }) {
  const p = {
    waiting: 1,
    waitingSince: performance.now(),
    heardAt: performance.now(),
    probes: 0,
    stats: { rtt: 1 as number | undefined },
    lastHeardAt: () => p.heardAt,
    probe: async (_timeout: number) => {
      p.probes++
      if (!options.answersProbes) return new Promise(() => {})
      p.heardAt = performance.now()
    },
  }
  return p satisfies WatchedPath
}

describe('PathWatch', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'performance'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('declares a waiting, silent path dead after the timeout, having probed it first', async () => {
    const dead: Array<[unknown, number]> = []
    const watch = new PathWatch(1_000, (c, silent) => dead.push([c, silent]))
    const silent = path({ answersProbes: false })
    watch.watch(silent)
    await vi.advanceTimersByTimeAsync(900)
    expect(dead).toEqual([])
    expect(silent.probes).toBe(1)
    await vi.advanceTimersByTimeAsync(200)
    expect(dead).toHaveLength(1)
    expect(dead[0]?.[1]).toBeGreaterThanOrEqual(1_000)
    expect(watch.size).toBe(0)
  })

  it('keeps a path whose probes are answered, and forgets one that stopped waiting', async () => {
    const dead: unknown[] = []
    const watch = new PathWatch(1_000, (c) => dead.push(c))
    const alive = path({ answersProbes: true })
    const done = path({ answersProbes: false })
    watch.watch(alive)
    watch.watch(done)
    done.waiting = 0
    await vi.advanceTimersByTimeAsync(10_000)
    expect(dead).toEqual([])
    expect(alive.probes).toBeGreaterThan(5)
    expect(done.probes).toBe(0)
    expect(watch.size).toBe(1)
  })

  it('suspects a path whose probe goes unanswered for a second, once per silent spell, before declaring it dead', async () => {
    const dead: unknown[] = []
    const suspects: number[] = []
    const watch = new PathWatch(4_000, (c) => dead.push(c), (_c, silent) => suspects.push(silent))
    const silent = path({ answersProbes: false })
    watch.watch(silent)
    await vi.advanceTimersByTimeAsync(1_200)
    expect(silent.probes).toBe(1)
    expect(suspects).toEqual([])
    await vi.advanceTimersByTimeAsync(300) // probe sent at 250 ms, unanswered for over 1 s
    expect(suspects).toHaveLength(1)
    expect(suspects[0]).toBeGreaterThanOrEqual(1_250)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(suspects).toHaveLength(1)
    expect(dead).toEqual([])
    await vi.advanceTimersByTimeAsync(700)
    expect(dead).toHaveLength(1)
  })

  it('never suspects a path whose probes are answered', async () => {
    const suspects: unknown[] = []
    const watch = new PathWatch(4_000, () => {}, (c) => suspects.push(c))
    watch.watch(path({ answersProbes: true }))
    await vi.advanceTimersByTimeAsync(20_000)
    expect(suspects).toEqual([])
  })

  it('probes once a connection whose steady traffic to us stopped, though nothing waits on it', async () => {
    const watch = new PathWatch(4_000, () => {})
    const quiet = path({ answersProbes: true })
    quiet.waiting = 0
    watch.expectMore(quiet)
    await vi.advanceTimersByTimeAsync(200)
    expect(quiet.probes).toBe(0) // still within the last few RTTs of traffic
    await vi.advanceTimersByTimeAsync(300)
    expect(quiet.probes).toBe(1)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(quiet.probes).toBe(1) // once per spell, not a keep-alive
  })

  it('declares dead a quiet connection whose one probe goes unanswered, though the probe gives up at its own deadline (as pings do)', async () => {
    const dead: Array<[unknown, number]> = []
    const watch = new PathWatch(2_000, (c, silent) => dead.push([c, silent]))
    const quiet = path({ answersProbes: false })
    quiet.waiting = 0
    // Like Connection.ping: the probe is the only wait (watched), and it rejects (and stops waiting) at its timeout.
    quiet.probe = (timeout: number) => {
      quiet.probes++
      quiet.waiting = 1
      quiet.waitingSince = performance.now()
      watch.watch(quiet)
      // 1 ms early: under load the sweep's interval drifts (Node reschedules it from when its callback ran),
      // so a real ping's deadline can come before the sweep that would see the full timeout of silence.
      return new Promise((_resolve, reject) =>
        setTimeout(() => {
          quiet.waiting = 0
          reject(new Error('ping did not finish'))
        }, timeout - 1),
      )
    }
    watch.expectMore(quiet)
    await vi.advanceTimersByTimeAsync(3_000)
    expect(quiet.probes).toBe(1)
    expect(dead).toHaveLength(1)
    expect(dead[0]?.[1]).toBeGreaterThanOrEqual(2_000)
  })

  it('does nothing with a timeout of 0', async () => {
    const dead: unknown[] = []
    const watch = new PathWatch(0, (c) => dead.push(c))
    watch.watch(path({ answersProbes: false }))
    await vi.advanceTimersByTimeAsync(10_000)
    expect(watch.size).toBe(0)
    expect(dead).toEqual([])
  })
})
