import { type Socket, createSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import type { Connection } from '@crust/core'
import { parseAddress } from '@crust/core/plugin'
import { waitUntil } from '@crust/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { holePunch } from '../src/index.js'
import { HOLE_PUNCH_PROTOCOL } from '../src/holepunch/messages.js'
import { punchPacket, readPunch } from '../src/holepunch/puncher.js'
import { startNode } from './helpers.js'

/**
 * Hole punching as a reflector: a peer names third parties as its
 * candidates (or spoofs punch packets from them) so that the target node
 * sends punch packets at them. Third parties here are UDP sockets on other
 * loopback addresses, counting every punch packet they receive.
 */

const loopback = { allowLoopback: true, punchTimeout: 3_000 }
const sockets: Socket[] = []

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close()
})

interface ThirdParty {
  readonly socket: Socket
  readonly address: string
  readonly port: number
  readonly host: string
  hits: number
}

async function thirdParties(count: number): Promise<ThirdParty[]> {
  const parties: ThirdParty[] = []
  for (let i = 0; i < count; i++) {
    const socket = createSocket('udp4')
    sockets.push(socket)
    const host = `127.0.0.${2 + (i % 16)}`
    await new Promise<void>((resolve) => socket.bind(0, host, resolve))
    const port = socket.address().port
    const party: ThirdParty = { socket, host, port, address: `quic://${host}:${port}`, hits: 0 }
    socket.on('message', (data) => {
      if (readPunch(data) !== undefined) party.hits++
    })
    parties.push(party)
  }
  return parties
}

const total = (parties: readonly ThirdParty[]) => parties.reduce((sum, p) => sum + p.hits, 0)
const hit = (parties: readonly ThirdParty[]) => parties.filter((p) => p.hits > 0).length

/** R serves as rendezvous and B as target; the attacker speaks the protocol by hand through its connection to R. */
async function setup(options: Parameters<typeof holePunch>[0] = loopback) {
  const r = await startNode({ services: [holePunch(options)] })
  const b = await startNode({ services: [holePunch(options)] })
  const attacker = await startNode()
  await b.connect({ peerId: r.peerId, addresses: r.addresses })
  const toR = await attacker.connect({ peerId: r.peerId, addresses: r.addresses })
  return { r, b, attacker, toR }
}

async function ask(toR: Connection, target: string, candidates: readonly string[], attempt = randomBytes(16).toString('hex')) {
  const stream = await toR.openProtocolStream(HOLE_PUNCH_PROTOCOL)
  await stream.writeFrame(Buffer.from(JSON.stringify({ type: 'connect', target, attempt, candidates, mapping: 'none' })))
  const answer = JSON.parse(Buffer.from((await stream.readFrame(4096)) ?? []).toString()) as { type: string }
  return { answer, attempt }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('hole punching cannot be used as a reflector', () => {
  it('an introduction naming 16 third parties: at most maxPunchTargets of them, and at most maxPunchPackets packets', async () => {
    const { b, toR } = await setup()
    const victims = await thirdParties(16)
    const { answer } = await ask(toR, b.peerId, victims.map((v) => v.address))
    expect(answer.type).toBe('answer')
    await sleep(3_500) // the whole punch window
    expect(hit(victims)).toBeLessThanOrEqual(4)
    expect(total(victims)).toBeLessThanOrEqual(40)
    expect(total(victims)).toBeGreaterThan(0) // punching itself still happens
  })

  it('punch packets spoofed from third parties add at most maxLearnedTargets of them', async () => {
    const { b, toR } = await setup()
    const [decoy, ...victims] = await thirdParties(17)
    const { attempt } = await ask(toR, b.peerId, [(decoy as ThirdParty).address])
    const port = parseAddress(b.addresses.find((a) => a.startsWith('quic://')) as string)?.port as number
    // Each victim "sends" one punch with the attempt id (what a spoofed source would look like to B).
    for (const victim of victims) victim.socket.send(punchPacket(attempt), port, '127.0.0.1')
    await sleep(3_500)
    expect(hit(victims)).toBeLessThanOrEqual(2)
    expect(total(victims) + (decoy as ThirdParty).hits).toBeLessThanOrEqual(40)
  })

  it('many introductions share the node-wide punch budget', async () => {
    const { b, toR } = await setup()
    const victims = await thirdParties(16)
    const started = Date.now()
    for (let i = 0; i < 10; i++) await ask(toR, b.peerId, victims.map((v) => v.address))
    await sleep(3_500)
    const elapsed = (Date.now() - started) / 1000
    expect(total(victims)).toBeLessThanOrEqual(100 + Math.ceil(50 * elapsed))
  })

  it('a genuine punch between two peers still works under these budgets', async () => {
    const r = await startNode({ services: [holePunch(loopback)] })
    const a = await startNode({ services: [holePunch(loopback)] })
    const b = await startNode({ services: [holePunch(loopback)] })
    await a.connect({ peerId: r.peerId, addresses: r.addresses })
    await b.connect({ peerId: r.peerId, addresses: r.addresses })
    const connection = await a.connect({ peerId: b.peerId, addresses: [] })
    expect(connection.method).toBe('punched')
    await waitUntil(() => b.connections.some((c) => c.peerId === a.peerId), 2000, 'b sees a')
  })
})
