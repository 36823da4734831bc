import { createSocket } from 'node:dgram'
import stunPackage from 'stun'
import { afterEach, describe, expect, it } from 'vitest'
import { type NatStatus, type StunResponder, natStatus, startStunResponder, stun } from '../src/index.js'
import { startNode } from './helpers.js'

const responders: StunResponder[] = []
afterEach(async () => {
  await Promise.all(responders.splice(0).map((r) => r.close()))
})

async function responder(options: Parameters<typeof startStunResponder>[0] = {}): Promise<StunResponder> {
  const started = await startStunResponder({ host: '127.0.0.1', port: 0, ...options })
  responders.push(started)
  return started
}

/** Send `packets` from one socket and collect what comes back within `ms`. */
async function exchange(target: StunResponder, packets: readonly Buffer[], ms = 300): Promise<Buffer[]> {
  const socket = createSocket('udp4')
  const answers: Buffer[] = []
  socket.on('message', (data) => answers.push(data))
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  for (const packet of packets) socket.send(packet, target.port, target.host)
  await new Promise((resolve) => setTimeout(resolve, ms))
  socket.close()
  return answers
}

const bindingRequest = (): Buffer => stunPackage.createMessage(stunPackage.constants.STUN_BINDING_REQUEST).toBuffer()

describe('startStunResponder', () => {
  it("gives stun() clients their reflexive address (the node's own QUIC socket on loopback)", async () => {
    const r = await responder()
    const node = await startNode({ services: [stun({ servers: [`127.0.0.1:${r.port}`], timeout: 100 })] })
    const status: NatStatus = natStatus(node.nat).reflexiveAddress !== undefined ? natStatus(node.nat) : natStatus((await node.once('nat:change')).status)
    expect(status.reflexiveAddress).toBe(node.addresses.find((a) => a.startsWith('quic://')))
    expect(r.stats().answered).toBeGreaterThanOrEqual(1)
  })

  it('answers binding requests only, and no more than its rate in total', async () => {
    const r = await responder({ ratePerSecond: 1, burst: 2 })
    const response = stunPackage.createMessage(stunPackage.constants.STUN_BINDING_RESPONSE).toBuffer()
    const answers = await exchange(r, [Buffer.from('garbage, not STUN'), response, Buffer.alloc(2_000), ...Array.from({ length: 5 }, bindingRequest)])
    expect(answers).toHaveLength(2)
    for (const answer of answers) expect(stunPackage.decode(answer).type).toBe(stunPackage.constants.STUN_BINDING_RESPONSE)
    expect(r.stats()).toEqual({ answered: 2, dropped: 6 })
  })

  it('rejects when its port is taken', async () => {
    const r = await responder()
    await expect(startStunResponder({ host: '127.0.0.1', port: r.port })).rejects.toThrow(/EADDRINUSE/)
  })
})
