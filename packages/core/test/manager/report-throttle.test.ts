import { afterEach, describe, expect, it, vi } from 'vitest'
import { ReportThrottle } from '../../src/manager/report-throttle.js'

afterEach(() => {
  vi.useRealTimers()
})

describe('ReportThrottle', () => {
  it('lets the first reports of each kind through, counts the rest, and summarises once per interval', () => {
    vi.useFakeTimers()
    const summaries: string[] = []
    const throttle = new ReportThrottle(1_000, 2, (kind, count) => summaries.push(`${kind}:${count}`))
    const admitted = Array.from({ length: 5 }, () => throttle.admit('junk'))
    expect(admitted).toEqual([true, true, false, false, false])
    expect(throttle.admit('other')).toBe(true)
    expect(summaries).toEqual([])
    vi.advanceTimersByTime(1_000)
    expect(summaries).toEqual(['junk:3'])
    // A new interval starts afresh.
    expect(throttle.admit('junk')).toBe(true)
    vi.advanceTimersByTime(1_000)
    expect(summaries).toEqual(['junk:3'])
  })

  it('keeps a bounded number of kinds', () => {
    const throttle = new ReportThrottle(60_000, 1, () => {})
    for (let i = 0; i < 64; i++) expect(throttle.admit(`kind ${i}`)).toBe(true)
    expect(throttle.admit('kind 64')).toBe(true) // counted as 'other'
    expect(throttle.admit('kind 65')).toBe(false)
    throttle.flush()
  })
})
