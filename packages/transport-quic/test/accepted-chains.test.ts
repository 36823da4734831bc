/** The listener's memory of chains its certificate callback accepted (pure logic: no sockets). */
import { describe, expect, it } from 'vitest'
import { AcceptedChains } from '../src/verify.js'

const chain = (...bytes: number[]): Uint8Array[] => bytes.map((b) => Uint8Array.of(b, b, b))
const peer = (peerId: string) => ({ peerId })

describe('AcceptedChains', () => {
  it('gives back the verdict for the very chain accepted, once; any other chain is checked again in full', () => {
    const chains = new AcceptedChains(4, 10_000)
    chains.remember(chain(1, 2), peer('a'))
    expect(chains.take(chain(1))).toBeUndefined() // the leaf alone is another chain
    expect(chains.take(chain(1, 3))).toBeUndefined()
    expect(chains.take(chain(1, 2))).toEqual({ ok: true, peer: { peerId: 'a' } })
    expect(chains.take(chain(1, 2))).toBeUndefined()
  })

  it('forgets after ttlMs, and keeps at most max chains (the oldest go first)', async () => {
    const chains = new AcceptedChains(2, 30)
    chains.remember(chain(1), peer('a'))
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(chains.take(chain(1))).toBeUndefined()
    const bounded = new AcceptedChains(2, 10_000)
    for (const b of [1, 2, 3]) bounded.remember(chain(b), peer(String(b)))
    expect(bounded.take(chain(1))).toBeUndefined()
    expect(bounded.take(chain(2))?.ok).toBe(true)
    expect(bounded.take(chain(3))?.ok).toBe(true)
  })
})
