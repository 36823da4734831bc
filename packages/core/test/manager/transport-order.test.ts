import { describe, expect, it } from 'vitest'
import { DialError, TimeoutError } from '../../src/errors.js'
import { fallbackReason, groupByTransport } from '../../src/manager/transport-order.js'

const transportOf = (address: string): string | undefined => address.split('://')[0]

describe('groupByTransport', () => {
  const addresses = ['quic://1.1.1.1:1', 'tcp://1.1.1.1:1', 'ws://1.1.1.1:2', 'tcp://[::1]:1', 'quic://[::1]:1']

  it('puts preferred transports first, then the rest in order of appearance', () => {
    expect(groupByTransport(addresses, transportOf, ['tcp', 'quic'])).toEqual([
      { transport: 'tcp', addresses: ['tcp://1.1.1.1:1', 'tcp://[::1]:1'] },
      { transport: 'quic', addresses: ['quic://1.1.1.1:1', 'quic://[::1]:1'] },
      { transport: 'ws', addresses: ['ws://1.1.1.1:2'] },
    ])
    expect(groupByTransport(addresses, transportOf, ['quic']).map((g) => g.transport)).toEqual(['quic', 'tcp', 'ws'])
  })

  it('keeps only the pinned transport', () => {
    expect(groupByTransport(addresses, transportOf, ['tcp', 'quic'], 'quic')).toEqual([
      { transport: 'quic', addresses: ['quic://1.1.1.1:1', 'quic://[::1]:1'] },
    ])
    expect(groupByTransport(addresses, transportOf, [], 'utp')).toEqual([])
  })

  it('skips addresses no transport handles', () => {
    expect(groupByTransport(['udp://x:1'], () => undefined, ['tcp'])).toEqual([])
  })
})

describe('fallbackReason', () => {
  it('classifies refused, timed out and blocked dials', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    expect(fallbackReason(new DialError('tcp://127.0.0.1:1: connect ECONNREFUSED', [], { cause: refused }))).toBe('refused')
    expect(fallbackReason(new TimeoutError('connecting took longer than 10000 ms'))).toBe('timeout')
    expect(fallbackReason(undefined)).toBe('timeout')
    expect(fallbackReason(Object.assign(new Error('unreachable'), { code: 'EHOSTUNREACH' }))).toBe('blocked')
    expect(fallbackReason(new Error('something else'))).toBe('failed')
  })
})
