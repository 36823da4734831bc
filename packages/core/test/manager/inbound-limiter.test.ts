import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InboundLimiter } from '../../src/manager/inbound-limiter.js'
import { CloseCode } from '../../src/transport/types.js'

interface Overrides {
  maxInboundPerIp?: number
  maxInboundPerSubnet?: number
  maxPendingInbound?: number
  pending?: () => number
  hasRoom?: () => boolean
}

function limiterWith(o: Overrides = {}): InboundLimiter {
  return new InboundLimiter({
    maxInboundPerIp: o.maxInboundPerIp ?? 1000,
    addressPrefixes: { ipv4: 32, ipv6: 64 },
    maxInboundPerSubnet: o.maxInboundPerSubnet ?? 1000,
    subnetPrefixes: { ipv4: 24, ipv6: 48 },
    maxPendingInbound: o.maxPendingInbound ?? 1000,
    countPendingInbound: o.pending ?? (() => 0),
    hasRoom: o.hasRoom ?? (() => true),
    describeFull: () => 'connection limit reached',
  })
}

function admitted(decision: ReturnType<InboundLimiter['admit']>): () => void {
  if (!decision.allow) throw new Error(`expected admission, got: ${decision.reason}`)
  return decision.release
}

describe('InboundLimiter', () => {
  it('allows up to maxInboundPerIp per IP, independently per IP', () => {
    const limiter = limiterWith({ maxInboundPerIp: 2 })
    admitted(limiter.admit('10.0.0.1'))
    admitted(limiter.admit('10.0.0.1'))
    const third = limiter.admit('10.0.0.1')
    expect(third).toEqual({ allow: false, code: CloseCode.LIMIT_REACHED, reason: expect.stringContaining('10.0.0.1'), limit: 'connection.maxInboundPerIp' })
    admitted(limiter.admit('10.0.0.2'))
    expect(limiter.count('10.0.0.1')).toBe(2)
    expect(limiter.total).toBe(3)
  })

  it('counts IPv4-mapped IPv6 addresses as their IPv4 address', () => {
    const limiter = limiterWith({ maxInboundPerIp: 1 })
    admitted(limiter.admit('10.0.0.1'))
    expect(limiter.admit('::ffff:10.0.0.1').allow).toBe(false)
    expect(limiter.count('::ffff:10.0.0.1')).toBe(1)
  })

  it('refuses when the node has no room (full and nothing prunable)', () => {
    let room = false
    const limiter = limiterWith({ maxInboundPerIp: 10, hasRoom: () => room })
    const refused = limiter.admit('10.0.0.1')
    expect(refused.allow).toBe(false)
    if (!refused.allow) expect(refused.reason).toMatch(/connection limit/)
    expect(limiter.count('10.0.0.1')).toBe(0)
    room = true
    admitted(limiter.admit('10.0.0.1'))
  })

  it('refuses when too many inbound handshakes are in progress', () => {
    let pending = 3
    const limiter = limiterWith({ maxPendingInbound: 3, pending: () => pending })
    const refused = limiter.admit('10.0.0.1')
    expect(refused.allow).toBe(false)
    if (!refused.allow) expect(refused.reason).toMatch(/handshakes in progress/)
    pending = 2
    admitted(limiter.admit('10.0.0.1'))
  })

  it('counts a whole IPv6 /64 as one address', () => {
    const limiter = limiterWith({ maxInboundPerIp: 2 })
    admitted(limiter.admit('2001:db8:1:2::1'))
    admitted(limiter.admit('2001:db8:1:2:ffff:ffff:ffff:ffff'))
    const third = limiter.admit('2001:db8:1:2:dead:beef::7')
    expect(third).toEqual({ allow: false, code: CloseCode.LIMIT_REACHED, reason: expect.stringContaining('2001:db8:1:2::/64'), limit: 'connection.maxInboundPerIp' })
    admitted(limiter.admit('2001:db8:1:3::1')) // the next /64 is another customer
  })

  it('limits a whole IPv4 /24 (and IPv6 /48) with the larger subnet limit', () => {
    const limiter = limiterWith({ maxInboundPerIp: 2, maxInboundPerSubnet: 5 })
    for (let host = 1; host <= 5; host++) admitted(limiter.admit(`203.0.113.${host}`))
    const sixth = limiter.admit('203.0.113.200')
    expect(sixth).toEqual({ allow: false, code: CloseCode.LIMIT_REACHED, reason: expect.stringContaining('subnet 203.0.113.0/24'), limit: 'connection.maxInboundPerSubnet' })
    admitted(limiter.admit('203.0.114.1'))
    expect(limiter.countSubnet('203.0.113.9')).toBe(5)
    for (let n = 1; n <= 5; n++) admitted(limiter.admit(`2001:db8:7:${n}::1`))
    expect(limiter.admit('2001:db8:7:ff::1').allow).toBe(false)
  })

  it('frees a slot on release, and release is idempotent', () => {
    const limiter = limiterWith({ maxInboundPerIp: 2 })
    const first = admitted(limiter.admit('10.0.0.1'))
    admitted(limiter.admit('10.0.0.1'))
    first()
    first()
    first()
    expect(limiter.count('10.0.0.1')).toBe(1)
    admitted(limiter.admit('10.0.0.1'))
    expect(limiter.admit('10.0.0.1').allow).toBe(false)
  })

  it('forgets an IP once its count reaches zero', () => {
    const limiter = limiterWith({ maxInboundPerIp: 4 })
    const releases = [admitted(limiter.admit('10.0.0.1')), admitted(limiter.admit('10.0.0.2'))]
    expect(limiter.trackedIps).toBe(2)
    for (const release of releases) release()
    expect(limiter.trackedIps).toBe(0)
    expect(limiter.total).toBe(0)
  })

  it('rejects invalid limits', () => {
    expect(() => limiterWith({ maxInboundPerIp: 0 })).toThrow(RangeError)
    expect(() => limiterWith({ maxInboundPerSubnet: 1.5 })).toThrow(RangeError)
    expect(() => limiterWith({ maxPendingInbound: -1 })).toThrow(RangeError)
  })

  it('never exceeds the per-IP limit and frees everything (property)', () => {
    const op = fc.oneof(
      fc.record({ type: fc.constant('admit' as const), ip: fc.constantFrom('10.0.0.1', '::ffff:10.0.0.1', '10.0.0.2', '::1') }),
      fc.record({ type: fc.constant('release' as const), index: fc.nat() }),
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (limit, ops) => {
        const limiter = limiterWith({ maxInboundPerIp: limit })
        const releases: Array<() => void> = []
        for (const o of ops) {
          if (o.type === 'admit') {
            const before = limiter.count(o.ip)
            const decision = limiter.admit(o.ip)
            expect(decision.allow).toBe(before < limit)
            if (decision.allow) releases.push(decision.release)
          } else if (releases.length > 0) {
            releases[o.index % releases.length]?.()
          }
          for (const ip of ['10.0.0.1', '10.0.0.2', '::1']) expect(limiter.count(ip)).toBeLessThanOrEqual(limit)
        }
        for (const release of releases) release()
        expect(limiter.total).toBe(0)
        expect(limiter.trackedIps).toBe(0)
      }),
    )
  })
})
