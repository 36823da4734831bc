import { randomBytes } from 'node:crypto'
import type { Connection, ServiceFactory } from '@crust/core'
import { describe, expect, it } from 'vitest'
import { holePunch } from '../src/index.js'
import type { HolePunchService } from '../src/holepunch/holepunch-service.js'
import { HOLE_PUNCH_PROTOCOL } from '../src/holepunch/messages.js'
import { PREDICTED_PORTS } from '../src/holepunch/hard-nat.js'
import { stunReport } from '../src/status.js'
import { startNode } from './helpers.js'

/**
 * Hard-NAT punching driven by a hostile asker: it claims an endpoint-dependent
 * NAT and a relayed connection it does not have, to make the target probe
 * (birthday: up to 1,536 packets) or open probe sockets. The target here
 * believes its own NAT is endpoint-independent (a reported STUN finding).
 */

const options = { allowLoopback: true, endpointDependentTimeout: 400 }

/** A service that reports the STUN finding `mapping` for the node's loopback address. */
function fakeStun(mapping: 'endpoint-independent' | 'endpoint-dependent'): ServiceFactory {
  return (components) => ({
    id: 'fake-stun',
    start: async () => components.reportTraversal(stunReport('quic://127.0.0.1:1', mapping, [40_000, 40_001])),
    stop: async () => {},
  })
}

/** The hole punching service instance a node runs, to read its counters. */
function captured(): { factory: ServiceFactory; service: () => HolePunchService } {
  const inner = holePunch(options)
  let service: HolePunchService | undefined
  return {
    factory: (components) => {
      service = inner(components) as HolePunchService
      return service
    },
    service: () => service as HolePunchService,
  }
}

async function setup() {
  const r = await startNode({ services: [holePunch(options)] })
  const target = captured()
  const b = await startNode({ services: [fakeStun('endpoint-independent'), target.factory] })
  const attacker = await startNode()
  await b.connect({ peerId: r.peerId, addresses: r.addresses })
  const toR = await attacker.connect({ peerId: r.peerId, addresses: r.addresses })
  return { b, toR, service: target.service }
}

async function ask(toR: Connection, target: string, fields: Record<string, unknown>) {
  const stream = await toR.openProtocolStream(HOLE_PUNCH_PROTOCOL)
  const connect = { type: 'connect', target, attempt: randomBytes(16).toString('hex'), candidates: ['quic://127.0.0.1:9'], ...fields }
  await stream.writeFrame(Buffer.from(JSON.stringify(connect)))
  return JSON.parse(Buffer.from((await stream.readFrame(4096)) ?? []).toString()) as Record<string, unknown>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('hard-NAT punching against a hostile asker', () => {
  it('a claimed relayed connection (upgrade) it does not have gets no birthday attempt: no probes, no probe sockets', async () => {
    const { b, toR, service } = await setup()
    // Random ports (no prediction) and a false "upgrade": the target answers at once and sends nothing.
    const answer = await ask(toR, b.peerId, { mapping: 'endpoint-dependent', ports: [12_345, 54_321], upgrade: true })
    expect(answer).toMatchObject({ type: 'answer', mapping: 'endpoint-independent' })
    expect(answer.birthday).toBeUndefined()
    expect(answer.seenAt).toBe('127.0.0.1') // filled in by the rendezvous: the only IP probes would go to
    await sleep(600)
    expect(service().hardNat).toEqual({ probes: 0, sockets: 0 })
  })

  it('prediction sends at most the predicted ports per attempt, and introductions stay rate-limited per peer', async () => {
    const { b, toR, service } = await setup()
    const answer = await ask(toR, b.peerId, { mapping: 'endpoint-dependent', ports: [40_000, 40_001] })
    expect(answer.type).toBe('answer')
    await sleep(600) // the attempt's budget (endpointDependentTimeout)
    expect(service().hardNat.probes).toBeGreaterThan(0)
    expect(service().hardNat.probes).toBeLessThanOrEqual(PREDICTED_PORTS)
    expect(service().hardNat.sockets).toBe(0)
    // 30 introductions a minute per asker: the rest are refused before any probe.
    const answers: Array<Record<string, unknown>> = []
    for (let i = 0; i < 35; i++) answers.push(await ask(toR, b.peerId, { mapping: 'endpoint-dependent', ports: [40_000 + 2 * i, 40_001 + 2 * i] }))
    expect(answers.filter((a) => a.type === 'error' && a.reason === 'rate-limited').length).toBeGreaterThanOrEqual(5)
    await sleep(600)
    expect(service().hardNat.probes).toBeLessThanOrEqual(30 * PREDICTED_PORTS)
  })
})
