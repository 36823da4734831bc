import 'reflect-metadata'
import { container, instancePerContainerCachingFactory } from 'tsyringe'
import { afterEach, describe, expect, it } from 'vitest'
import type { MessageHandler } from '../../src/connection/incoming.js'
import type { BootstrapCandidate, Bootstrapper } from '../../src/bootstrap/bootstrapper.js'
import { Tokens } from '../../src/di/tokens.js'
import type { TypedEmitter } from '../../src/events/emitter.js'
import type { NodeEvents } from '../../src/events/node-events.js'
import type { PeerReports } from '../../src/manager/peer-reports.js'
import { Registrar } from '../../src/manager/registrar.js'
import { type CrustNode, createNode } from '../../src/node.js'

const nodes: CrustNode[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((node) => node.stop()))
})

/** A Registrar that records the handlers it is given. */
class RecordingRegistrar extends Registrar {
  readonly handlers: Array<MessageHandler | undefined> = []
  override handle(handler: MessageHandler | undefined): void {
    this.handlers.push(handler)
    super.handle(handler)
  }
}

describe('dependency injection', () => {
  it('a part registered in the container passed to createNode replaces the node’s own', async () => {
    const scope = container.createChildContainer()
    let made: RecordingRegistrar | undefined
    scope.register(Tokens.Registrar, {
      useFactory: instancePerContainerCachingFactory((c) => {
        made = new RecordingRegistrar(c.resolve<TypedEmitter<NodeEvents>>(Tokens.Events), c.resolve<PeerReports>(Tokens.PeerReports))
        return made
      }),
    })
    const node = await createNode({ networkName: 'di', bootstrap: { cache: false } }, { container: scope })
    nodes.push(node)
    await node.start()
    const handler: MessageHandler = () => undefined
    node.handle(handler)
    expect(made?.handlers).toEqual([handler])
  })

  it('the parts beside the manager (bootstrapper, discovery, services, cache) come from the container too', async () => {
    const scope = container.createChildContainer()
    const fixed: BootstrapCandidate[] = [{ peerId: 'peer-from-test', addresses: ['tcp://192.0.2.1:4001'], source: 'contact' }]
    scope.register(Tokens.Bootstrapper, {
      useFactory: instancePerContainerCachingFactory(
        () =>
          ({
            candidates: () => fixed,
            contactIds: () => [],
            start: async () => {},
            stop: async () => {},
          }) as unknown as Bootstrapper,
      ),
    })
    const node = await createNode({ networkName: 'di', bootstrap: { cache: false } }, { container: scope })
    nodes.push(node)
    expect(node.bootstrapCandidates()).toBe(fixed)
    const own = await createNode({ networkName: 'di', bootstrap: { cache: false } })
    nodes.push(own)
    expect(own.bootstrapCandidates()).toEqual([])
  })

  it('each node gets parts of its own', async () => {
    const a = await createNode({ networkName: 'di', bootstrap: { cache: false } })
    const b = await createNode({ networkName: 'di', bootstrap: { cache: false } })
    nodes.push(a, b)
    await Promise.all([a.start(), b.start()])
    a.protect('peer-x')
    expect(a.isProtected('peer-x')).toBe(true)
    expect(b.isProtected('peer-x')).toBe(false)
  })
})
