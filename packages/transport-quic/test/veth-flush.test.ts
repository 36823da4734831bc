/**
 * A graceful close flushes: what was written before `close()` or
 * `node.stop()` reaches the peer, over a real, non-loopback path (a veth
 * pair into a network namespace, lab/veth.ts). Needs root; skips loudly
 * without it.
 */
import { createTestNode, stopTestNodes } from '@crust/core/testing'
import { tcp } from '@crust/transport-tcp'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { quic } from '../src/index.js'
import { VethPath, announceVethSkip, vethUnsupported } from './lab/veth.js'

const unsupported = vethUnsupported()
if (unsupported) announceVethSkip('QUIC graceful-close tests over a veth pair', unsupported)

const RUNS = 5

describe.skipIf(unsupported !== undefined)('QUIC graceful close over a veth path', () => {
  let path: VethPath
  beforeAll(() => {
    path = VethPath.create(1500)
  })
  afterAll(() => path?.destroy())
  afterEach(() => stopTestNodes())

  /** Requests to a peer that answers, then at once closes the connection or stops: how many answers arrived. */
  async function answered(transport: 'quic' | 'tcp', afterAnswer: 'close' | 'stop', size: number): Promise<number> {
    let answers = 0
    for (let run = 0; run < RUNS; run++) {
      const peer = await path.startPeer({ transport, afterAnswer })
      const factory = transport === 'quic' ? quic({ host: path.hostIp }) : tcp()
      const node = await createTestNode([factory], { listen: [`${transport}://${path.hostIp}:0`] })
      try {
        const connection = await node.connect({ peerId: peer.peerId, addresses: peer.addresses }, { retry: false })
        const answer = await connection.request(new TextEncoder().encode(String(size)), { timeout: 5000 }).catch(() => undefined)
        if (answer?.byteLength === size) answers++
      } finally {
        await stopTestNodes([node])
        await peer.kill()
      }
    }
    return answers
  }

  for (const afterAnswer of ['close', 'stop'] as const) {
    it(`a peer that answers and then ${afterAnswer === 'close' ? 'closes the connection' : 'stops'} at once: every answer arrives (as over TCP)`, async () => {
      const quicAnswers = await answered('quic', afterAnswer, 200_000)
      const tcpAnswers = await answered('tcp', afterAnswer, 200_000)
      console.log(`answer then ${afterAnswer}: QUIC ${quicAnswers}/${RUNS}, TCP ${tcpAnswers}/${RUNS}`)
      expect(tcpAnswers).toBe(RUNS)
      expect(quicAnswers).toBe(RUNS)
    }, 90_000) // ten peer processes started and killed: slow on a loaded machine, and no timing is asserted
  }
})
