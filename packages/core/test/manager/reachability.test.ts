import { describe, expect, it } from 'vitest'
import { ReachabilityError } from '../../src/errors.js'
import { ReachabilityChecker } from '../../src/manager/reachability.js'

function checker(answer: (address: string) => boolean, maxPerSecond = 100) {
  const dialled: string[] = []
  const reachability = new ReachabilityChecker(
    async (address) => {
      dialled.push(address)
      if (!answer(address)) throw new Error('refused')
    },
    { timeout: 1_000, maxAddresses: 3, period: 60_000, maxPerSecond },
  )
  return { reachability, dialled }
}

describe('ReachabilityChecker', () => {
  it('dials only claimed addresses on the observed IP', async () => {
    const { reachability, dialled } = checker(() => true)
    await reachability.check('p', ['tcp://198.51.100.9:1', 'tcp://203.0.113.5:4001', 'quic://203.0.113.5:4001'], '::ffff:203.0.113.5')
    expect(dialled.sort()).toEqual(['quic://203.0.113.5:4001', 'tcp://203.0.113.5:4001'])
  })

  it('refuses without dialling when no claimed address is on the observed IP', async () => {
    const { reachability, dialled } = checker(() => true)
    await expect(reachability.check('p', ['tcp://198.51.100.9:1'], '203.0.113.5')).rejects.toThrow(/no address on 203\.0\.113\.5/)
    expect(dialled).toEqual([])
  })

  it('remembers a failure for the period: one dial, however often it is asked', async () => {
    const { reachability, dialled } = checker(() => false)
    for (let i = 0; i < 5; i++) {
      await expect(reachability.check('p', ['tcp://203.0.113.5:1'], '203.0.113.5')).rejects.toBeInstanceOf(ReachabilityError)
    }
    expect(dialled).toHaveLength(1)
  })

  it('shares a check in flight and remembers a success', async () => {
    const { reachability, dialled } = checker(() => true)
    await Promise.all([1, 2, 3].map(() => reachability.check('p', ['tcp://203.0.113.5:1'], '203.0.113.5')))
    await reachability.check('p', ['tcp://203.0.113.5:1'], '203.0.113.5')
    expect(dialled).toHaveLength(1)
  })

  it('spends a node-wide budget: beyond it, claims stay unverified without a dial', async () => {
    const { reachability, dialled } = checker(() => true, 1)
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => reachability.check(`peer${i}`, ['tcp://203.0.113.5:1'], '203.0.113.5')),
    )
    expect(dialled).toHaveLength(2) // burst of 2 × rate
    const refused = results.filter((r) => r.status === 'rejected')
    expect(refused).toHaveLength(8)
    expect(String((refused[0] as PromiseRejectedResult).reason)).toMatch(/budget/)
  })
})
