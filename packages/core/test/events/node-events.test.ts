import { describe, expect, expectTypeOf, it } from 'vitest'
import type { NodeEvents } from '../../src/events/node-events.js'
import { createNode, type CrustNode } from '../../src/node.js'

// `tsc -p tsconfig.tests.json` type-checks this file: each `@ts-expect-error`
// fails the check if its line compiles, i.e. if unknown event names type-check.
describe('node events are typed by name', () => {
  it('a misspelt or unknown event name does not compile; known names give their payload', async () => {
    const node = await createNode({ networkName: 'typed-events', transports: [], bootstrap: { cache: false }, logLevel: 'error' })
    const subscribe = (n: CrustNode): Array<() => void> => [
      // @ts-expect-error: 'peer:discoverd' is not an event (typo of 'peer:discovered')
      n.on('peer:discoverd', () => {}),
      // @ts-expect-error: no such event
      n.on('anything', () => {}),
      n.on('peer:discovered', (peer) => {
        expectTypeOf(peer.addresses).toEqualTypeOf<readonly string[]>()
      }),
    ]
    for (const off of subscribe(node)) off()
    expectTypeOf<keyof NodeEvents>().toEqualTypeOf<keyof NodeEvents & string>()
    expectTypeOf<'peer:discoverd'>().not.toExtend<keyof NodeEvents>()
    expect(typeof node.on).toBe('function')
  })
})
