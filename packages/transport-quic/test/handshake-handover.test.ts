/**
 * A dial attempt whose HELLO went out is not dropped when its caller stops
 * waiting for it: the peer may have pooled it already and, by the
 * tie-break, kept it in place of the connection both ends had. Real TCP and
 * QUIC on loopback; the caller gives up after the peer pooled the attempt
 * (in the first case a UDP proxy also loses the QUIC WELCOME for a moment),
 * so the race goes the bad way every time. Before the fix, the peer kept the
 * cancelled attempt, retired the working connection, and both ends saw
 * `peer:disconnected` until a redial.
 */
import { type CrustNode, DialError, type NodeConfigInput, type ServiceFactory } from '@crust/core'
import { afterEach, describe, expect, it } from 'vitest'
import { disconnections, quicAddresses, raceWithLostWelcome, settleOn, startNode as startTcpQuicNode, tcpAddresses } from './tcp-and-quic.js'

const nodes: CrustNode[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
})

/** A traversal connector that never gets through: it makes the node race traversal against its direct dials. */
const neverTraverses: ServiceFactory = () => ({
  id: 'never',
  connector: {
    priority: 50,
    connect: (_peerId, { signal }) =>
      new Promise((_resolve, reject) => {
        const fail = (): void => reject(new DialError('this connector reaches no one'))
        if (signal.aborted) fail()
        else signal.addEventListener('abort', fail, { once: true })
      }),
  },
  start: async () => {},
  stop: async () => {},
})

const startNode = (overrides: Partial<NodeConfigInput> = {}): Promise<CrustNode> => startTcpQuicNode(nodes, 'handover', ['tcp', 'quic'], overrides)

describe('a dial attempt past its HELLO outlives its caller', () => {
  it('direct dial raced against traversal: the attempt the direct dial\'s win cancels is kept by both ends', async () => {
    for (let round = 0; round < 3; round++) {
      const server = await startNode()
      // QUIC is preferred (attempt 0); TCP (attempt 1) starts 300 ms later, by when the server pooled QUIC.
      // The connector makes the dial race traversal against the direct dial, which ends it when TCP wins.
      const client = await startNode({ connection: { transportPreference: ['quic', 'tcp'], fallbackDelay: 300 }, services: [neverTraverses] })
      await raceWithLostWelcome(client, server)
    }
  }, 60_000)

  it('a second dial beside a working connection, given up by its caller after its HELLO: both ends move to it, neither disconnects', async () => {
    for (let round = 0; round < 3; round++) {
      const server = await startNode()
      const client = await startNode()
      const reasons = disconnections(client, server)
      const first = await client.connect({ peerId: server.peerId, addresses: tcpAddresses(server) })
      expect(first.transport).toBe('tcp')
      // A fresh dial (as a keeper's check beside a suspect path): the server pools it (the later dial
      // wins the tie-break) and retires TCP; the caller gives up while its WELCOME is on the way.
      // (With the WELCOME lost for longer than the retire grace, 250 ms, the dialler still sees a
      // brief disconnection before it arrives: not covered here, see the core README.)
      const caller = new AbortController()
      server.on('connection:open', ({ connection }) => {
        if (connection.transport === 'quic') caller.abort()
      })
      const second = client.connect({ peerId: server.peerId, addresses: quicAddresses(server) }, { fresh: true, transport: 'quic', signal: caller.signal })
      await expect(second).rejects.toMatchObject({ code: 'ERR_ABORTED' })
      await settleOn(client, server, 'quic')
      expect(reasons).toEqual([])
      expect(client.connections.map((c) => c.transport)).toEqual(['quic'])
      expect(server.connections.map((c) => c.transport)).toEqual(['quic'])
      // Calls made on the first connection move over to the one both ends kept.
      expect(Buffer.from(await first.request(Buffer.from('y'))).toString()).toBe('echo y')
    }
  }, 60_000)
})
