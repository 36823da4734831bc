import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InboundLimiter } from '../../src/manager/inbound-limiter.js'
import { CloseCode } from '../../src/transport/types.js'

function admitted(decision: ReturnType<InboundLimiter['admit']>): () => void {
  if (!decision.allow) throw new Error(`expected admission, got: ${decision.reason}`)
  return decision.release
}

describe('InboundLimiter', () => {
  it('allows up to maxInboundPerIp per IP, independently per IP', () => {
    const limiter = new InboundLimiter({ maxInboundPerIp: 2, maxConnections: 100, countConnections: () => 0 })
    admitted(limiter.admit('10.0.0.1'))
    admitted(limiter.admit('10.0.0.1'))
    const third = limiter.admit('10.0.0.1')
    expect(third).toEqual({ allow: false, code: CloseCode.LIMIT_REACHED, reason: expect.stringContaining('10.0.0.1') })
    admitted(limiter.admit('10.0.0.2'))
    expect(limiter.count('10.0.0.1')).toBe(2)
    expect(limiter.total).toBe(3)
  })

  it('counts IPv4-mapped IPv6 addresses as their IPv4 address', () => {
    const limiter = new InboundLimiter({ maxInboundPerIp: 1, maxConnections: 100, countConnections: () => 0 })
    admitted(limiter.admit('10.0.0.1'))
    expect(limiter.admit('::ffff:10.0.0.1').allow).toBe(false)
    expect(limiter.count('::ffff:10.0.0.1')).toBe(1)
  })

  it('refuses when the node holds maxConnections', () => {
    let connections = 5
    const limiter = new InboundLimiter({ maxInboundPerIp: 10, maxConnections: 5, countConnections: () => connections })
    const refused = limiter.admit('10.0.0.1')
    expect(refused.allow).toBe(false)
    if (!refused.allow) expect(refused.reason).toMatch(/connection limit/)
    expect(limiter.count('10.0.0.1')).toBe(0)
    connections = 4
    admitted(limiter.admit('10.0.0.1'))
  })

  it('frees a slot on release, and release is idempotent', () => {
    const limiter = new InboundLimiter({ maxInboundPerIp: 2, maxConnections: 100, countConnections: () => 0 })
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
    const limiter = new InboundLimiter({ maxInboundPerIp: 4, maxConnections: 100, countConnections: () => 0 })
    const releases = [admitted(limiter.admit('10.0.0.1')), admitted(limiter.admit('10.0.0.2'))]
    expect(limiter.trackedIps).toBe(2)
    for (const release of releases) release()
    expect(limiter.trackedIps).toBe(0)
    expect(limiter.total).toBe(0)
  })

  it('rejects invalid limits', () => {
    expect(() => new InboundLimiter({ maxInboundPerIp: 0, maxConnections: 1, countConnections: () => 0 })).toThrow(RangeError)
    expect(() => new InboundLimiter({ maxInboundPerIp: 1, maxConnections: 1.5, countConnections: () => 0 })).toThrow(RangeError)
  })

  it('never exceeds the per-IP limit and frees everything (property)', () => {
    const op = fc.oneof(
      fc.record({ type: fc.constant('admit' as const), ip: fc.constantFrom('10.0.0.1', '::ffff:10.0.0.1', '10.0.0.2', '::1') }),
      fc.record({ type: fc.constant('release' as const), index: fc.nat() }),
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (limit, ops) => {
        const limiter = new InboundLimiter({ maxInboundPerIp: limit, maxConnections: 1000, countConnections: () => 0 })
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
