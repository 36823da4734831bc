/**
 * Infrastructure peers stay connected: a service's `keep` hold and the
 * bootstrap contact joined through are redialled by the node's keeper when
 * lost, released when the service stops (or another contact is joined), and
 * never listed as the application's kept peers.
 */
import { describe, expect, it } from 'vitest'
import type { Service, ServiceComponents, ServiceFactory } from '../../src/service/types.js'
import { Net, contactOf, waitFor } from './helpers.js'

/** A service that only hands its components out, so a test can hold peers through them. */
function holder(): { factory: ServiceFactory; components(): ServiceComponents } {
  let given: ServiceComponents | undefined
  const factory: ServiceFactory = (components) => {
    given = components
    const service: Service = { id: 'holder', start: async () => {}, stop: async () => {} }
    return service
  }
  return {
    factory,
    components: () => {
      if (given === undefined) throw new Error('not started')
      return given
    },
  }
}

describe('infrastructure peers kept connected (memory transport)', () => {
  it("a service's keep hold redials a lost peer; the release stops that; node.kept lists only the application's", async () => {
    const net = new Net()
    const infra = await net.node()
    const service = holder()
    const node = await net.node({ services: [service.factory] })
    const release = service.components().keep(infra.peerId, [...infra.addresses])
    await waitFor(() => node.getConnection(infra.peerId) !== undefined, 5_000, 'the kept peer to be connected')
    expect(node.kept).toEqual([])

    await infra.getConnection(node.peerId)?.close('dropped by the peer')
    await waitFor(() => node.getConnection(infra.peerId) === undefined, 5_000, 'the drop')
    await waitFor(() => node.getConnection(infra.peerId) !== undefined, 5_000, 'the keeper to reconnect it')

    release()
    release() // idempotent
    await infra.getConnection(node.peerId)?.close('dropped again')
    await waitFor(() => node.getConnection(infra.peerId) === undefined, 5_000, 'the second drop')
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(node.getConnection(infra.peerId)).toBeUndefined()
  })

  it("a hold does not release the application's keep of the same peer, and holds end when the node stops", async () => {
    const net = new Net()
    const infra = await net.node()
    const service = holder()
    const node = await net.node({ services: [service.factory] })
    node.keep(contactOf(infra))
    const release = service.components().keep(infra.peerId, [...infra.addresses])
    release()
    expect(node.kept).toEqual([infra.peerId])
    await waitFor(() => node.getConnection(infra.peerId) !== undefined, 5_000, 'the kept peer to be connected')
    await infra.getConnection(node.peerId)?.close('dropped by the peer')
    await waitFor(() => node.getConnection(infra.peerId) === undefined, 5_000, 'the drop')
    await waitFor(() => node.getConnection(infra.peerId) !== undefined, 5_000, 'the application keep to reconnect it')

    node.unkeep(infra.peerId)
    service.components().keep(infra.peerId, [...infra.addresses])
    await node.stop()
    await node.start()
    // The service's hold was released when it stopped: nothing redials the peer after the restart.
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(node.getConnection(infra.peerId)).toBeUndefined()
  })

  it('the bootstrap contact joined through is redialled when lost, and released when another is joined', async () => {
    const net = new Net()
    const [b, c] = [await net.node(), await net.node()]
    const node = await net.node({ bootstrap: { contacts: [contactOf(b)], parallelism: 1 } })
    expect((await node.bootstrap()).peerId).toBe(b.peerId)
    expect(node.kept).toEqual([])

    await b.getConnection(node.peerId)?.close('dropped by the contact')
    await waitFor(() => node.getConnection(b.peerId) === undefined, 5_000, 'the drop')
    await waitFor(() => node.getConnection(b.peerId) !== undefined, 5_000, 'the bootstrap contact to be redialled')

    node.setContacts([contactOf(c)])
    net.network.refuse(b.addresses[0]!)
    await b.getConnection(node.peerId)?.close('dropped again')
    expect((await node.rebootstrap()).peerId).toBe(c.peerId)
    const dials = net.network.dials.length
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(net.network.dials.slice(dials).filter((dial) => dial.to === b.addresses[0])).toEqual([])
  })
})
